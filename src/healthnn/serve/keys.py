"""API keys for the server: created once, stored only as salted hashes, compared in constant time.

A key looks like ``hnn_<id>_<secret>``: ``id`` (8 hex digits) finds the record, ``secret``
(32 random bytes, URL-safe base64) is checked against ``sha256(salt + secret)``. The secret has
256 bits of entropy, so one salted SHA-256 is enough (no slow password hash is needed: there is
nothing to guess) and a request spends microseconds on it.

The key file is JSON, written atomically and readable by its owner only; it also holds the
server's secret for keyed hashes of audited inputs. The server re-reads it when it changes, so
``healthnn keys revoke NAME`` takes effect without a restart.

>>> import tempfile, pathlib
>>> store = KeyStore(pathlib.Path(tempfile.mkdtemp()) / "keys.json")
>>> key = store.add("ward-7", ["predict"])
>>> store.verify(key).name, store.verify(key).scopes
('ward-7', ['predict'])
>>> store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
True
>>> store.revoke("ward-7"); store.verify(key) is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthnn.errors import HealthnnError

__all__ = ["KeyStore", "ApiKey", "SCOPES", "KEYS_ENV", "default_keys_path"]

SCOPES = ("predict", "explain", "deid")
KEYS_ENV = "HEALTHNN_API_KEYS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_KEY = re.compile(r"^hnn_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})$")


def default_keys_path() -> Path:
    """``$HEALTHNN_API_KEYS``, else ``~/.config/healthnn/api_keys.json``."""
    env = os.environ.get(KEYS_ENV)
    if env:
        return Path(env)
    return Path.home() / ".config" / "healthnn" / "api_keys.json"


@dataclass(frozen=True)
class ApiKey:
    """A verified key: who it belongs to and what it may do."""

    name: str
    scopes: list[str]


class KeyStore:
    """The API keys in one JSON file (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, Any] | None = None
        self._mtime: int | None = None

    # -- file -----------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {"version": 1, "audit_secret": None, "keys": {}}
        if self._data is not None and mtime == self._mtime:
            return self._data
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
                raise ValueError("not a healthnn key file")
        except (ValueError, UnicodeDecodeError) as exc:
            raise HealthnnError(f"cannot read the API key file: {exc}", file=str(self.path),
                                hint="restore it or move it away and create new keys") from None
        if self._mtime is None:  # the first read (and each change): is the file private?
            from healthnn.serve.audit import warn_if_shared

            warn_if_shared(self.path, "the API key file")
        self._data, self._mtime = data, mtime
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, self.path)
        self._data, self._mtime = None, None

    # -- management -----------------------------------------------------------------------------
    def add(self, name: str, scopes: list[str]) -> str:
        """Create a key for ``name``; return it (the only time it is ever shown)."""
        if not _NAME.match(name or ""):
            raise HealthnnError(f"invalid key name {name!r}", key="NAME",
                                hint="1-64 letters, digits, '_', '.', '@' or '-'")
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            raise HealthnnError(f"unknown scope(s): {', '.join(unknown) or '(none given)'}",
                                key="--scopes", hint=f"choose from {', '.join(SCOPES)}")
        with self._lock:
            data = self._load()
            data = json.loads(json.dumps(data))  # a copy to edit
            if name in data["keys"]:
                raise HealthnnError(f"a key named {name!r} exists", key="NAME",
                                    hint=f"revoke it first: healthnn keys revoke {name}")
            if not data.get("audit_secret"):
                data["audit_secret"] = secrets.token_hex(32)
            used = {r["id"] for r in data["keys"].values()}
            kid = secrets.token_hex(4)
            while kid in used:
                kid = secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            data["keys"][name] = {
                "id": kid, "salt": salt.hex(), "hash": _hash(salt, secret),
                "scopes": sorted(set(scopes), key=SCOPES.index),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            self._save(data)
        return f"hnn_{kid}_{secret}"

    def revoke(self, name: str) -> None:
        with self._lock:
            data = json.loads(json.dumps(self._load()))
            if name not in data["keys"]:
                raise HealthnnError(f"no key named {name!r}", file=str(self.path),
                                    hint="'healthnn keys list' shows the names")
            del data["keys"][name]
            self._save(data)

    def list(self) -> list[dict[str, Any]]:
        """Names, scopes and creation times (never hashes)."""
        return [{"name": n, "scopes": r["scopes"], "created": r.get("created", "")}
                for n, r in sorted(self._load()["keys"].items())]

    def audit_secret(self) -> bytes:
        """The secret for keyed hashes of audited inputs (created with the first key)."""
        secret = self._load().get("audit_secret")
        if not secret:
            raise HealthnnError("no API keys yet", file=str(self.path),
                                hint="create one: healthnn keys add NAME --scopes predict")
        return bytes.fromhex(secret)

    # -- checking -------------------------------------------------------------------------------
    def verify(self, key: str) -> ApiKey | None:
        """The key's owner and scopes, or None for an unknown, revoked or malformed key."""
        m = _KEY.match(key or "")
        if not m:
            return None
        kid, secret = m.groups()
        with self._lock:
            data = self._load()
        for name, rec in data["keys"].items():
            try:
                if rec["id"] != kid:
                    continue
                ok = hmac.compare_digest(_hash(bytes.fromhex(rec["salt"]), secret),
                                         str(rec["hash"]))
                return ApiKey(name, [str(s) for s in rec["scopes"]]) if ok else None
            except (KeyError, TypeError, ValueError, AttributeError):
                raise HealthnnError(f"the record of key {name!r} is damaged (it needs id, "
                                    "salt, hash and scopes)", file=str(self.path),
                                    hint=f"revoke it and add it again: healthnn keys revoke "
                                    f"{name}") from None
        return None


def _hash(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode("ascii")).hexdigest()
