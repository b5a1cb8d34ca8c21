"""Secret keys for encryption and keyed pseudonyms.

A key file holds 32 random bytes, hex encoded on one line (``healthnn keygen KEYFILE`` writes
one, readable by its owner only: mode 0600; a key file that others can read is used with a
warning). Commands take ``--key-file PATH`` or read the path from the
environment variable ``HEALTHNN_KEY_FILE``. Keys are never logged; a key's *id* (the first 16
hex digits of a keyed hash of it) may be shown so users can tell keys apart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

from healthnn.errors import HealthnnError
from healthnn.io import write_bytes

__all__ = ["KEY_ENV", "generate_key_file", "load_key", "key_id", "keyed_hash", "warn_if_shared"]

KEY_ENV = "HEALTHNN_KEY_FILE"
KEY_BYTES = 32


class KeyFileError(HealthnnError):
    """A key is missing or malformed."""


def generate_key_file(path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a new random key to ``path`` (mode 0600) and return the path."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeyFileError("key file already exists; refusing to overwrite it", file=str(path),
                        hint="choose another path: losing a key makes encrypted bundles unreadable")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new file created 0600 beside the path and renamed into place: an overwritten key
    # file does not keep a wider mode, and a kill never leaves half a key
    write_bytes(path, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"), perms=0o600)
    return path


def warn_if_shared(path: str | Path, what: str = "key file") -> bool:
    """Print a warning (to stderr) when ``path`` can be read or written by its group or by
    others; return whether it did. Keys and audit logs should be 0600."""
    try:
        mode = Path(path).stat().st_mode & 0o777
    except OSError:
        return False
    if not mode & 0o077:
        return False
    print(f"warning: {path}: the {what} is readable by others (mode {mode:04o}); make it "
          f"private with: chmod 600 {path}", file=sys.stderr)
    return True


def load_key(path: str | Path | None = None, *, required: bool = True) -> bytes | None:
    """The key from ``path``, else from ``$HEALTHNN_KEY_FILE``; None if neither and not required."""
    if path is None:
        env = os.environ.get(KEY_ENV)
        path = Path(env) if env else None
    if path is None:
        if required:
            raise KeyFileError("no key given", hint=f"pass --key-file PATH or set {KEY_ENV}; "
                            "create a key with 'healthnn keygen PATH'")
        return None
    path = Path(path)
    if not path.is_file():
        raise KeyFileError("key file not found", file=str(path))
    warn_if_shared(path)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"not a healthnn key (expected {KEY_BYTES * 2} hex digits)",
                        file=str(path), hint="create one with 'healthnn keygen PATH'")
    return key


def key_id(key: bytes) -> str:
    """A public identifier of a key (it reveals nothing usable about the key)."""
    return hmac.new(key, b"healthnn key id", hashlib.sha256).hexdigest()[:16]


def keyed_hash(key: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, separated by ``purpose``; hex encoded.

    >>> k = bytes(32)
    >>> keyed_hash(k, "id", "MRN123") == keyed_hash(k, "id", "MRN123")
    True
    >>> keyed_hash(k, "id", "MRN123") != keyed_hash(k, "date", "MRN123")
    True
    """
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
