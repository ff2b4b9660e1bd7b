"""`make demo`: protect a photo that carries a face, a camera's identity and a GPS position.

The photo is scikit-image's public-domain ``astronaut``.  A copy gets camera
make/model/serial, capture time and GPS tags (and, when exiftool is installed,
an EXIF thumbnail); then the real ``unseen protect`` command runs on it, and
the script shows what the input carried and what the output still carries.
Everything lands in ``demo-out/`` (git-ignored).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image
from PIL.ExifTags import GPS, GPSTAGS, IFD, TAGS, Base
from skimage import data

from unseen import meta

OUT = Path(__file__).resolve().parents[1] / "demo-out"
PHOTO, THUMB, PROTECTED = OUT / "astronaut.jpg", OUT / "thumbnail.jpg", OUT / "protected.jpg"
# exiftool groups that only describe the file itself, not who made it or where.
NEUTRAL_GROUPS = {"ExifTool", "System", "File", "Composite", "JFIF"}


def camera_exif() -> bytes:
    """What a camera writes about itself, its owner, the time and the place (the tests use it too)."""
    exif = Image.Exif()
    exif[Base.Make] = "Canon"
    exif[Base.Model] = "Canon EOS 5D Mark IV"
    exif[Base.Artist] = "Jane Roe"
    exif.get_ifd(IFD.Exif).update(
        {Base.BodySerialNumber: "032024001234", Base.DateTimeOriginal: "2024:05:01 18:04:11"}
    )
    exif.get_ifd(IFD.GPSInfo).update(
        {
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: (52.0, 30.0, 58.2),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: (13.0, 22.0, 33.5),
        }
    )
    return exif.tobytes()


def write_photo() -> None:
    OUT.mkdir(exist_ok=True)
    for old in (PHOTO, THUMB, PROTECTED):
        old.unlink(missing_ok=True)  # the demo's own files from an earlier run
    picture = Image.fromarray(data.astronaut())
    picture.save(PHOTO, quality=95, exif=camera_exif())
    if shutil.which("exiftool"):
        picture.resize((160, 160)).save(THUMB, quality=90)
        subprocess.run(
            ["exiftool", "-q", "-overwrite_original", f"-ThumbnailImage<={THUMB}", str(PHOTO)], check=True
        )
        THUMB.unlink()


def identifying_tags(path: Path) -> list[tuple[str, str]]:
    """(tag, value) pairs beyond what describes the pixels: exiftool's view, else Pillow's EXIF reader."""
    if shutil.which("exiftool"):
        done = subprocess.run(
            ["exiftool", "-j", "-G1", "-a", "-u", "-ee", str(path)], capture_output=True, text=True
        )
        (tags,) = json.loads(done.stdout)
        return [
            (k, str(v))
            for k, v in tags.items()
            if k != "SourceFile" and k.split(":")[0] not in NEUTRAL_GROUPS
        ]
    with Image.open(path) as img:
        exif = img.getexif()
        found = [
            (f"EXIF:{TAGS.get(k, hex(k))}", str(v))
            for k, v in exif.items()
            if k not in (IFD.Exif, IFD.GPSInfo)
        ]
        found += [(f"EXIF:{TAGS.get(k, hex(k))}", str(v)) for k, v in exif.get_ifd(IFD.Exif).items()]
        found += [(f"GPS:{GPSTAGS.get(k, hex(k))}", str(v)) for k, v in exif.get_ifd(IFD.GPSInfo).items()]
        return found


def show_tags(title: str, tags: list[tuple[str, str]]) -> None:
    print(title)
    for key, value in tags:
        print(f"    {key:32s} {value[:60]}")
    if not tags:
        print("    none")


def main() -> int:
    write_photo()
    judge = (
        "exiftool"
        if shutil.which("exiftool")
        else "Pillow's EXIF reader (install exiftool for a fuller view)"
    )
    print(f"Photo: {PHOTO.relative_to(OUT.parent)} (scikit-image 'astronaut', public domain)\n")
    show_tags(f"Identifying metadata in the input, as {judge} sees it:", identifying_tags(PHOTO))
    command = [sys.executable, "-m", "unseen", "protect", str(PHOTO), "-o", str(PROTECTED), "--json"]
    print(f"\n$ unseen protect {PHOTO.relative_to(OUT.parent)} -o {PROTECTED.relative_to(OUT.parent)} --json")
    done = subprocess.run(command, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        print(f"unseen protect failed (exit {done.returncode})")
        return done.returncode
    result = json.loads(done.stdout)
    print(
        f"  found {result['faces']} face(s), covered {result['regions']} head region(s) in {result['seconds']:.1f} s\n"
    )
    show_tags(f"Identifying metadata left in the output, as {judge} sees it:", identifying_tags(PROTECTED))
    leaks = meta.scan(PROTECTED)
    print(
        f"unseen's own metadata check of the output: {'clean' if not leaks else ', '.join(map(str, leaks))}"
    )
    print(f"\nOpen {PHOTO.relative_to(OUT.parent)} and {PROTECTED.relative_to(OUT.parent)} to compare.")
    return 0 if not leaks else 3


if __name__ == "__main__":
    sys.exit(main())
