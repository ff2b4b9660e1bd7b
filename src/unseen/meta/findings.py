from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One identifying item: which tool saw it, where, and what it is."""

    tool: str
    item: str

    def __str__(self) -> str:
        # Items quote file contents: control characters must not reach a terminal.
        item = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in self.item)
        return f"{item} ({self.tool})"


class NotClean(ValueError):
    """A container holds something a lossless rewriter does not know; the pixels are re-encoded instead."""
