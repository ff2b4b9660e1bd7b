"""The allowlist: what a written file may carry besides pixels and sound, as exiftool names it.

Anything exiftool reports outside these (group, tag) pairs is a finding.  The
groups are exiftool's ``-G1`` family-1 names (``Track1``, ``Track2``... are
matched as ``Track``).  Every allowed tag describes how to decode or play the
file; the few whose value could carry something (MP4 dates, track language and
handler names) are allowed only with the neutral value a clean file has.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from . import hevc, setups, units


def _tags(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Tags that only describe how to decode the pixels or play the streams, per exiftool group.
ALLOWED_EXIFTOOL: dict[str, frozenset[str]] = {
    # exiftool's own notes: only its version; a Warning or Error is a finding (fail closed)
    "ExifTool": _tags("ExifToolVersion"),
    # the output file itself as the file system sees it
    "System": _tags(
        "FileName Directory FileSize FileModifyDate FileAccessDate FileInodeChangeDate FilePermissions"
    ),
    "File": _tags(
        "FileType FileTypeExtension MIMEType ImageWidth ImageHeight ExifByteOrder EncodingProcess "
        "BitsPerSample ColorComponents YCbCrSubSampling BMPVersion Planes BitDepth Compression ImageLength "
        "PixelsPerMeterX PixelsPerMeterY NumColors NumImportantColors"
    ),
    "Composite": _tags(
        "ImageSize Megapixels AvgBitrate AudioBitrate Rotation Duration"
    ),  # AudioBitrate: a VBR MP3's average
    "JFIF": _tags("JFIFVersion ResolutionUnit XResolution YResolution"),
    "Adobe": _tags("DCTEncodeVersion APP14Flags0 APP14Flags1 ColorTransform"),
    "PNG": _tags(
        "ImageWidth ImageHeight BitDepth ColorType Compression Filter Interlace Palette Transparency Gamma "
        "SRGBRendering AnimationFrames AnimationPlays"
    ),
    "RIFF": _tags(
        "VP8Version ImageWidth ImageHeight HorizontalScale VerticalScale AlphaPreprocessing AlphaFiltering "
        "AlphaCompression WebP_Flags BackgroundColor AnimationLoopCount AnimationFrameCount Duration "
        "Encoding NumChannels SampleRate AvgBytesPerSec BitsPerSample NumberOfSamples RIFFSize64 DataSize64 "
        "NumberOfSamples64"
    ),
    # Sound-only containers: how the sound is coded, and FFmpeg's fixed vendor string (below).
    "MPEG": _tags(
        "MPEGAudioVersion AudioLayer AudioBitrate SampleRate ChannelMode MSStereo IntensityStereo "
        "CopyrightFlag OriginalMedia Emphasis VBRFrames VBRBytes VBRScale"
    ),
    "FLAC": _tags(
        "BlockSizeMin BlockSizeMax FrameSizeMin FrameSizeMax SampleRate Channels BitsPerSample TotalSamples "
        "MD5Signature Padding"
    ),
    "Vorbis": _tags(
        "VorbisVersion AudioChannels SampleRate MaximumBitrate NominalBitrate MinimumBitrate Vendor "
        "WaveformatextensibleChannelMask"
    ),
    "Opus": _tags("OpusVersion AudioChannels SampleRate OutputGain"),
    "IFD0": _tags(
        "ImageWidth ImageHeight BitsPerSample Compression PhotometricInterpretation StripOffsets "
        "SamplesPerPixel RowsPerStrip StripByteCounts PlanarConfiguration ExtraSamples SampleFormat "
        "Predictor FillOrder"
    ),
    "GIF": _tags(
        "GIFVersion ImageWidth ImageHeight HasColorMap ColorResolutionDepth BitsPerPixel BackgroundColor "
        "AnimationIterations FrameCount Duration TransparentColor"
    ),
    "QuickTime": _tags(
        "MajorBrand MinorVersion CompatibleBrands MovieHeaderVersion CreateDate ModifyDate TimeScale "
        "Duration PreferredRate PreferredVolume MatrixStructure PreviewTime PreviewDuration PosterTime "
        "SelectionTime SelectionDuration CurrentTime NextTrackID HandlerType HandlerVendorID Free MediaData "
        "MediaDataSize MediaDataOffset Wide"
    ),
    "Track": _tags(
        "TrackHeaderVersion TrackCreateDate TrackModifyDate TrackID TrackDuration TrackLayer TrackVolume "
        "MatrixStructure ImageWidth ImageHeight Unknown_edts MediaHeaderVersion MediaCreateDate "
        "MediaModifyDate MediaTimeScale MediaDuration MediaLanguageCode HandlerClass HandlerType HandlerDescription "
        "VendorID PurchaseFileFormat Unknown_mp4a LayoutFlags AudioChannelTypes NumChannelDescriptions "
        "GraphicsMode OpColor CompressorID SourceImageWidth SourceImageHeight XResolution YResolution "
        "BitDepth AVCConfiguration HEVCConfiguration Unknown_hvcC AV1Configuration Unknown_av1C Unknown_vpcC Unknown_esds Unknown_btrt "
        "Unknown_dOps Unknown_dfLa Unknown_alac Unknown_dac3 Unknown_dec3 BufferSize MaxBitrate AverageBitrate VideoFrameRate PixelAspectRatio "
        "ColorProfiles ColorPrimaries TransferCharacteristics MatrixCoefficients VideoFullRangeFlag "
        "SyncSampleTable CompositionTimeToSample SampleToChunk SampleSizes ChunkOffset ChunkOffset64 "
        "TimeToSampleTable SampleGroupDescription SampleToGroup IdependentAndDisposableSamples Balance "
        "AudioFormat AudioChannels AudioBitsPerSample AudioSampleRate EncoderVendor EncoderVersion"
    ),
}


def _zero_date(value: object) -> bool:
    return not str(value).strip("0: ")


def _binary(value: object) -> bytes | None:
    """The bytes of a value exiftool gave as binary data (``base64:...``, with ``-b``); else None."""
    text = str(value)
    if not text.startswith("base64:"):
        return None
    try:
        return base64.b64decode(text[len("base64:") :], validate=True)
    except ValueError:
        return None


def _blank(value: object) -> bool:
    """Padding that holds nothing: empty, or zero bytes."""
    if str(value).startswith("base64:"):
        data = _binary(value)
        return data is not None and not any(data)
    return not str(value).strip("\0")


def _setup(plain: Callable[[bytes], bool]) -> Callable[[object], bool]:
    """A rule for a decoder setup exiftool gives as binary data: in its ``plain`` form only."""

    def rule(value: object) -> bool:
        setup = _binary(value)
        return setup is not None and plain(setup)

    return rule


# Allowed tags whose value must be the neutral one.
VALUE_RULES: dict[str, Callable[[object], bool]] = {
    # A `free` box or a FLAC padding block is room left for later edits; filled with text, it is a
    # place to hide anything that no tag names.
    "Free": _blank,
    "Padding": _blank,
    "Wide": _blank,  # a MOV's reserved room for a 64-bit size
    # Decoder setups (as exiftool 12 names them, base64): what the picture or sound needs, and no
    # more (`setups`): HEVC's parameter sets without SEI, AV1's sequence header without metadata.
    "AVCConfiguration": _setup(setups.avc),
    "Unknown_hvcC": _setup(hevc.holds_only_parameter_sets),
    "Unknown_av1C": _setup(units.av1_setup_clean),
    "Unknown_dfLa": _setup(setups.flac),
    "Unknown_vpcC": _setup(setups.vp9),
    "Unknown_dac3": _setup(setups.ac3),
    "Unknown_dec3": _setup(setups.eac3),
    "Unknown_alac": _setup(setups.alac),
    "Unknown_dOps": _setup(setups.opus),
    "CreateDate": _zero_date,
    "ModifyDate": _zero_date,
    "TrackCreateDate": _zero_date,
    "TrackModifyDate": _zero_date,
    "MediaCreateDate": _zero_date,
    "MediaModifyDate": _zero_date,
    # A MOV (`-o x.mov`) says "unspecified" as 32767, and adds each track's data handler: a media
    # ('mhlr') and a data ('dhlr') handler class, the data one of type 'url ' or 'alis', FFmpeg's
    # name for it, and FFmpeg's vendor code in the sample entry.
    "MediaLanguageCode": lambda v: v in ("und", "", 32767, "32767"),
    "HandlerClass": lambda v: v in ("mhlr", "dhlr"),
    "HandlerDescription": lambda v: v in ("VideoHandler", "SoundHandler", "DataHandler"),
    "HandlerType": lambda v: v in ("vide", "soun", "mdir", "url ", "alis"),
    "VendorID": lambda v: v == "FFMP",
    # A MOV's sound entry wraps its setup in a 'wave' atom: the codec's code ('frma'), an empty
    # 'mp4a' atom and the channel layout ('chan'): a layout's number, or a bitmap of the channels
    # present (5.1, AC-3, MP3) with no per-channel descriptions.
    "PurchaseFileFormat": lambda v: v in ("mp4a", "alac", "ac-3", "ec-3"),
    "Unknown_mp4a": _blank,
    "LayoutFlags": lambda v: isinstance(v, int),
    "AudioChannelTypes": lambda v: isinstance(v, int),
    "NumChannelDescriptions": lambda v: v == 0,
    "HandlerVendorID": lambda v: v in ("appl", ""),
    # A Vorbis comment block's vendor and a 3GP AMR entry's encoder vendor: FFmpeg's, or they name
    # the encoder (and so the phone or app) that made the file.
    "Vendor": lambda v: v == "ffmpeg",
    # Which speakers the channels of a FLAC go to (5.1, 2.1...): FFmpeg writes it, a hex mask.
    "WaveformatextensibleChannelMask": lambda v: is_channel_mask(v),
    "EncoderVendor": lambda v: v == "FFMP",
    "EncoderVersion": lambda v: v in (0, "0"),
}


def is_channel_mask(value: object) -> bool:
    """A speaker mask as FFmpeg writes it in a Vorbis comment ("0x3f"), and nothing else."""
    return isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{1,8}", value) is not None


def group_of(group: str) -> str:
    return re.sub(r"^Track\d+$", "Track", group)


def allowed(group: str, tag: str, value: object = None) -> bool:
    if tag not in ALLOWED_EXIFTOOL.get(group_of(group), frozenset()):
        return False
    rule = VALUE_RULES.get(tag)
    return rule is None or rule(value)
