"""Encryption at rest for bundles: AES-256-GCM, one sealed file per bundle file.

``encrypt_bundle(dir, key)`` replaces every file ``f`` of a bundle by ``f.enc`` (12-byte random
nonce + ciphertext + tag; the file's name is bound in as associated data, so files cannot be
swapped) and writes ``encrypted.json`` (algorithm, key id, file list; no secrets). Loading an
encrypted bundle decrypts in memory only. A missing key, a wrong key and a tampered file each
fail with their own clear message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from healthnn.errors import BundleError
from healthnn.privacy.keys import key_id

__all__ = ["MARKER", "is_encrypted", "encrypt_bundle", "decrypt_bundle", "read_bundle_file",
           "seal", "open_sealed", "add_sealed_file"]

MARKER = "encrypted.json"
_SUFFIX = ".enc"
_NONCE = 12


def _aead(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(key: bytes, data: bytes, name: str) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + _aead(key).encrypt(nonce, data, name.encode())


def open_sealed(key: bytes, blob: bytes, name: str, *, file: str) -> bytes:
    from cryptography.exceptions import InvalidTag

    try:
        return _aead(key).decrypt(blob[:_NONCE], blob[_NONCE:], name.encode())
    except (InvalidTag, ValueError):
        raise BundleError("decryption failed: the file was modified or damaged", file=file,
                          hint="restore the bundle from a trusted copy") from None


def is_encrypted(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def _marker(path: Path) -> dict:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {MARKER}: {exc}", file=str(path)) from None


def _check_key(path: Path, key: bytes | None) -> dict:
    info = _marker(path)
    if key is None:
        raise BundleError("this bundle is encrypted and no key was given", file=str(path),
                          hint="pass --key-file PATH or set HEALTHNN_KEY_FILE")
    if info.get("key_id") != key_id(key):
        raise BundleError("wrong key for this encrypted bundle", file=str(path),
                          hint=f"the bundle was encrypted with key id {info.get('key_id')}, "
                          f"the key given has id {key_id(key)}")
    return info


def encrypt_bundle(path: str | Path, key: bytes) -> list[str]:
    """Encrypt every file of the bundle in place; return the encrypted names."""
    path = Path(path)
    if is_encrypted(path):
        raise BundleError("bundle is already encrypted", file=str(path))
    names = sorted(p.name for p in path.iterdir() if p.is_file() and p.name != "checkpoint.pt")
    for name in names:
        src = path / name
        (path / (name + _SUFFIX)).write_bytes(seal(key, src.read_bytes(), name))
    marker = {"format": 1, "algorithm": "AES-256-GCM", "key_id": key_id(key), "files": names}
    (path / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    for name in names:  # remove plaintext only once every sealed file is written
        (path / name).unlink()
    return names


def decrypt_bundle(path: str | Path, key: bytes) -> list[str]:
    """Decrypt a bundle in place (for inspection); return the decrypted names."""
    path = Path(path)
    info = _check_key(path, key)
    plain = {name: read_bundle_file(path, name, key) for name in info["files"]}
    for name, data in plain.items():
        (path / name).write_bytes(data)
    for name in info["files"]:
        (path / (name + _SUFFIX)).unlink()
    (path / MARKER).unlink()
    return list(plain)


def add_sealed_file(path: str | Path, name: str, data: bytes, key: bytes | None) -> None:
    """Add (or replace) one file of an encrypted bundle, e.g. an ONNX export."""
    path = Path(path)
    info = _check_key(path, key)
    (path / (name + _SUFFIX)).write_bytes(seal(key, data, name))
    if name not in info["files"]:
        info["files"] = sorted([*info["files"], name])
        (path / MARKER).write_text(json.dumps(info, indent=2) + "\n")


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
        raise BundleError("encrypted bundle is incomplete", file=str(sealed))
    return open_sealed(key, sealed.read_bytes(), name, file=str(sealed))
