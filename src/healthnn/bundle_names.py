"""Which files a bundle folder holds, and its id: a leaf module (no healthnn imports), shared
by :mod:`healthnn.bundle_files` and :mod:`healthnn.privacy.encryption`."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

__all__ = ["INTEGRITY", "is_bundle_file", "bundle_file_names", "bundle_id_of"]

INTEGRITY = "integrity.json"


def is_bundle_file(p: Path) -> bool:
    """A bundle file: not hidden, not a checkpoint, not a partial write."""
    name = p.name
    return (p.is_file() and not name.startswith(".") and not name.startswith("checkpoint")
            and not name.endswith(".partial"))


def bundle_file_names(path: str | Path) -> list[str]:
    """The names of a plain bundle's files (top level; not hidden files, checkpoints or
    temporary files), the integrity list included."""
    return sorted(p.name for p in Path(path).iterdir() if is_bundle_file(p))


def bundle_id_of(path: str | Path) -> str:
    """The bundle's id from its integrity list, or a new random one."""
    try:
        bid = json.loads((Path(path) / INTEGRITY).read_text())["bundle_id"]
        if isinstance(bid, str) and bid:
            return bid
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return secrets.token_hex(16)
