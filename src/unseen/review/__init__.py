"""``unseen review``: a local page to see every region, fix misses and leave consenting people visible.

The page edits plans (`session`, `edits`); rendering stays the pipeline of
``protect --plan``, with its self-check.  The server (`server`) listens on
127.0.0.1 only and serves one person for one run; previews of the originals
(`previews`) live in a private temporary folder removed when the review ends.
"""

from __future__ import annotations

from .server import Server
from .session import Session

__all__ = ["Server", "Session"]
