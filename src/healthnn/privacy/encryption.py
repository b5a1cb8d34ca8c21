"""Encryption at rest for bundles: AES-256-GCM, one sealed file per bundle file.

``encrypt_bundle(dir, key)`` replaces every file ``f`` of a bundle by ``f.enc`` (12-byte random
nonce + ciphertext + tag) and writes ``encrypted.json``, the bundle's authenticated index
(no secrets). Every file is bound to its bundle and its name: the associated data of each
sealed file is the bundle's random id and the file's name, and the index lists each sealed
file's SHA-256 under an HMAC of the key. So a ``.enc`` file taken from another bundle (even
one sealed with the same key), a file swapped for another, an older copy of a file, a file
dropped from the folder or from the list, and an edited index all fail with a clear message.
Loading an encrypted bundle decrypts in memory only.

Bundles encrypted by healthnn before the index was authenticated (``"format": 1``) still
load, with a note: their files are bound to their names only; ``healthnn decrypt`` then
``healthnn encrypt`` upgrades one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

from healthnn.bundle_names import bundle_file_names, bundle_id_of
from healthnn.errors import BundleError
from healthnn.io import write_bytes, write_text
from healthnn.privacy.keys import key_id

__all__ = ["MARKER", "is_encrypted", "encrypt_bundle", "decrypt_bundle", "read_bundle_file",
           "seal", "open_sealed", "add_sealed_file", "start_encrypted", "sealed_files",
           "check_sealed_complete"]

MARKER = "encrypted.json"
_SUFFIX = ".enc"
_NONCE = 12
_FORMAT = 2
_PRIVATE = 0o600


def _aead(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _ad(name: str, bundle_id: str | None) -> bytes:
    """Associated data: the file's name, and (format 2) the bundle it belongs to."""
    if bundle_id is None:  # format 1
        return name.encode()
    return f"healthnn bundle file\x00{bundle_id}\x00{name}".encode()


def seal(key: bytes, data: bytes, name: str, bundle_id: str | None = None) -> bytes:
    """``data`` encrypted and authenticated, bound to ``name`` (and ``bundle_id``)."""
    nonce = os.urandom(_NONCE)
    return nonce + _aead(key).encrypt(nonce, data, _ad(name, bundle_id))


def open_sealed(key: bytes, blob: bytes, name: str, *, file: str,
                bundle_id: str | None = None) -> bytes:
    """The plaintext of a blob made by :func:`seal` with the same name and bundle id."""
    from cryptography.exceptions import InvalidTag

    try:
        return _aead(key).decrypt(blob[:_NONCE], blob[_NONCE:], _ad(name, bundle_id))
    except (InvalidTag, ValueError):
        raise BundleError("decryption failed: the file was modified or damaged, or belongs "
                          "to another bundle", file=file,
                          hint="restore the bundle from a trusted copy") from None


def is_encrypted(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def _index_mac(key: bytes, info: dict) -> str:
    body = {k: v for k, v in info.items() if k != "mac"}
    mac_key = hmac.new(key, b"healthnn encrypted bundle index", hashlib.sha256).digest()
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(mac_key, text, hashlib.sha256).hexdigest()


def _marker(path: Path) -> dict:
    try:
        info = json.loads((path / MARKER).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {MARKER}: {exc}", file=str(path)) from None
    if not isinstance(info, dict):
        raise BundleError(f"{MARKER} is not a bundle index", file=str(path / MARKER))
    return info


def _check_key(path: Path, key: bytes | None) -> dict:
    info = _marker(path)
    if key is None:
        raise BundleError("this bundle is encrypted and no key was given", file=str(path),
                          hint="pass --key-file PATH or set HEALTHNN_KEY_FILE")
    if info.get("key_id") != key_id(key):
        raise BundleError("wrong key for this encrypted bundle", file=str(path),
                          hint=f"the bundle was encrypted with key id {info.get('key_id')}, "
                          f"the key given has id {key_id(key)}")
    if info.get("format") == 1:
        return info
    if info.get("format") != _FORMAT or not hmac.compare_digest(
            str(info.get("mac", "")), _index_mac(key, info)):
        raise BundleError(f"{MARKER} was modified: its list of files is not the one sealed "
                          "with this key", file=str(path / MARKER),
                          hint="restore the bundle from a trusted copy")
    return info


def _write_marker(path: Path, key: bytes, info: dict) -> None:
    info = {**info, "format": _FORMAT}
    info["mac"] = _index_mac(key, info)
    write_text(path / MARKER, json.dumps(info, indent=2) + "\n")


def start_encrypted(path: str | Path, key: bytes, bundle_id: str) -> None:
    """Make ``path`` an (empty) encrypted bundle: files added with :func:`add_sealed_file`
    are sealed as they are written, so no plaintext reaches the disk."""
    _write_marker(Path(path), key, {"algorithm": "AES-256-GCM", "key_id": key_id(key),
                                    "bundle_id": bundle_id, "files": {}})


def sealed_files(path: str | Path, key: bytes | None) -> list[str]:
    """The names of an encrypted bundle's files (checked against the key)."""
    return sorted(_check_key(Path(path), key)["files"])


def encrypt_bundle(path: str | Path, key: bytes) -> list[str]:
    """Encrypt every file of the bundle in place; return the encrypted names."""
    path = Path(path)
    if is_encrypted(path):
        raise BundleError("bundle is already encrypted", file=str(path),
                          hint="'healthnn decrypt' first to encrypt it with another key")
    names = bundle_file_names(path)
    bid = bundle_id_of(path)
    files = {}
    for name in names:
        blob = seal(key, (path / name).read_bytes(), name, bid)
        write_bytes(path / (name + _SUFFIX), blob, perms=_PRIVATE)
        files[name] = hashlib.sha256(blob).hexdigest()
    _write_marker(path, key, {"algorithm": "AES-256-GCM", "key_id": key_id(key),
                              "bundle_id": bid, "files": files})
    for name in names:  # remove plaintext only once every sealed file is written
        (path / name).unlink()
    return names


def decrypt_bundle(path: str | Path, key: bytes) -> list[str]:
    """Decrypt a bundle in place (for inspection); return the decrypted names."""
    path = Path(path)
    info = _check_key(path, key)
    plain = {name: read_bundle_file(path, name, key) for name in info["files"]}
    for name, data in plain.items():
        write_bytes(path / name, data, perms=_PRIVATE)
    for name in info["files"]:
        (path / (name + _SUFFIX)).unlink()
    (path / MARKER).unlink()
    return list(plain)


def add_sealed_file(path: str | Path, name: str, data: bytes, key: bytes | None) -> None:
    """Add (or replace) one file of an encrypted bundle, e.g. an ONNX export."""
    path = Path(path)
    info = _check_key(path, key)
    if info.get("format") == 1:
        raise BundleError("this bundle was encrypted by an older healthnn; files cannot be "
                          "added to it", file=str(path),
                          hint="upgrade it: 'healthnn decrypt' then 'healthnn encrypt'")
    blob = seal(key, data, name, info["bundle_id"])
    write_bytes(path / (name + _SUFFIX), blob, perms=_PRIVATE)
    info["files"] = {**info["files"], name: hashlib.sha256(blob).hexdigest()}
    _write_marker(path, key, info)


def read_bundle_file(path: str | Path, name: str, key: bytes | None) -> bytes:
    """A bundle file's bytes, decrypted in memory if the bundle is encrypted."""
    path = Path(path)
    if not is_encrypted(path):
        return (path / name).read_bytes()
    info = _check_key(path, key)
    if name not in info["files"]:
        raise FileNotFoundError(name)
    sealed = path / (name + _SUFFIX)
    if not sealed.is_file():
        raise BundleError(f"encrypted bundle is incomplete: {name}{_SUFFIX} is missing",
                          file=str(path), hint="restore the bundle from a trusted copy")
    blob = sealed.read_bytes()
    if info.get("format") == 1:
        _note_old_format(path)
        return open_sealed(key, blob, name, file=str(sealed))
    if not hmac.compare_digest(hashlib.sha256(blob).hexdigest(), str(info["files"][name])):
        raise BundleError("the sealed file was modified or damaged, or replaced by another "
                          "copy (its SHA-256 is not the one in the bundle's index)",
                          file=str(sealed),
                          hint="restore the bundle from a trusted copy")
    return open_sealed(key, blob, name, file=str(sealed), bundle_id=info["bundle_id"])


def check_sealed_complete(path: str | Path, key: bytes | None) -> None:
    """Every file in the index is present (a dropped file is an error naming it)."""
    path = Path(path)
    for name in _check_key(path, key)["files"]:
        if not (path / (name + _SUFFIX)).is_file():
            raise BundleError(f"encrypted bundle is incomplete: {name}{_SUFFIX} is missing",
                              file=str(path), hint="restore the bundle from a trusted copy")


_NOTED: set[str] = set()


def _note_old_format(path: Path) -> None:
    if str(path) not in _NOTED:
        _NOTED.add(str(path))
        print(f"note: {path}: encrypted by an older healthnn, its files are bound to their "
              "names only; upgrade it with 'healthnn decrypt' then 'healthnn encrypt'",
              file=sys.stderr)
