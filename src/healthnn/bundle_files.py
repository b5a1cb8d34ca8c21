"""The files of a bundle: writing them (sealed when encrypted), their integrity list, checking it.

A plain bundle holds ``integrity.json``: the SHA-256 of every other file of the bundle and the
bundle's random id. :func:`verify_bundle` (called by :func:`healthnn.bundle.load_bundle`)
checks it; a changed, missing or unlisted file is an error naming the file, unless the
caller allows modified bundles (``--allow-modified``), which turns each into a note. This
catches accidental and casual edits (a hand-edited ``task.json``, flipped bytes); an
encrypted bundle's index (see :mod:`healthnn.privacy.encryption`) is authenticated with the
key, which also stops deliberate tampering. Bundles written before the integrity list load
with a note (their files cannot be checked).

``healthnn train`` builds a bundle in a private staging folder (mode 0700) inside ``--out``
(:func:`staged_bundle`) and moves the finished files into place at the end, the integrity
list (or the encrypted index) last, so an interrupted run never leaves something that looks
like a complete bundle. With a key every file is sealed as it is written: no plaintext
reaches the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from healthnn.bundle_names import INTEGRITY, bundle_file_names, bundle_id_of
from healthnn.errors import BundleError
from healthnn.io import OutputError, folder_lock, write_bytes, write_text
from healthnn.privacy.encryption import (MARKER, add_sealed_file, check_sealed_complete,
                                         is_encrypted, start_encrypted)

__all__ = ["INTEGRITY", "bundle_file_names", "bundle_id_of", "write_integrity",
           "verify_bundle", "write_bundle_file", "staged_bundle", "train_output",
           "holds_bundle", "save_checkpoint", "load_checkpoint", "sealing", "sealing_key"]

_STAGING = ".staging-"


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_integrity(path: str | Path, bundle_id: str | None = None) -> None:
    """Write ``integrity.json``: the SHA-256 of every file of the plain bundle ``path``."""
    path = Path(path)
    files = {n: _hash_file(path / n) for n in bundle_file_names(path) if n != INTEGRITY}
    info = {"format": 1, "algorithm": "sha256", "bundle_id": bundle_id or bundle_id_of(path),
            "files": files}
    write_text(path / INTEGRITY, json.dumps(info, indent=2) + "\n")


def write_bundle_file(path: str | Path, name: str, data: bytes, key: bytes | None = None
                      ) -> None:
    """Write (or replace) one file of a bundle: sealed into an encrypted bundle (``key``
    needed), else written atomically and recorded in the integrity list (if it has one)."""
    path = Path(path)
    if is_encrypted(path):
        add_sealed_file(path, name, data, key)
        return
    write_bytes(path / name, data)
    listed = path / INTEGRITY
    if listed.is_file() and name != INTEGRITY:
        info = json.loads(listed.read_text())
        info["files"][name] = hashlib.sha256(data).hexdigest()
        write_text(listed, json.dumps(info, indent=2) + "\n")


def _problem(msg: str, file: Path, allow: bool, log: Callable[[str], None]) -> None:
    if not allow:
        raise BundleError(msg, file=str(file), hint="restore the bundle from a trusted copy, "
                          "or pass --allow-modified (load_bundle(allow_modified=True)) if the "
                          "change was deliberate")
    log(f"note: {file}: {msg} (loaded anyway: --allow-modified)")


def verify_bundle(path: str | Path, *, key: bytes | None = None, allow_modified: bool = False,
                  expects_list: bool = False, log: Callable[[str], None] | None = None) -> None:
    """Check a bundle's files against its integrity list (or its encrypted index).

    ``expects_list``: the bundle's manifest says it was written with an integrity list, so a
    missing list is an error (an interrupted or damaged copy), not an older bundle.
    """
    path = Path(path)
    log = log or _stderr
    if is_encrypted(path):
        check_sealed_complete(path, key)
        return
    listed = path / INTEGRITY
    if not listed.is_file():
        if expects_list:
            _problem(f"{INTEGRITY} is missing (an interrupted or incomplete copy?)", listed,
                     allow_modified, log)
        else:
            log(f"note: {path}: written before bundles had an integrity list; its files "
                "cannot be checked")
        return
    try:
        files = json.loads(listed.read_text())["files"]
        assert isinstance(files, dict)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        _problem(f"{INTEGRITY} cannot be read", listed, allow_modified, log)
        return
    for name, digest in sorted(files.items()):
        f = path / name
        if not f.is_file():
            _problem("this bundle file is missing", f, allow_modified, log)
        elif _hash_file(f) != digest:
            _problem("this bundle file was modified after training (its SHA-256 differs from "
                     f"the one in {INTEGRITY})", f, allow_modified, log)
    for name in bundle_file_names(path):
        if name != INTEGRITY and name not in files:
            _problem(f"this file is not part of the bundle (not in {INTEGRITY})", path / name,
                     allow_modified, log)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def holds_bundle(path: str | Path) -> bool:
    """Whether the folder holds a (complete or partial) bundle."""
    path = Path(path)
    return any((path / n).exists() for n in ("manifest.json", "manifest.json.enc", MARKER,
                                              INTEGRITY, "model.safetensors",
                                              "model.safetensors.enc"))


def _previous_files(out: Path) -> list[Path]:
    """The files of the bundle already in ``out`` (replaced by a new one)."""
    names = {"model.onnx", "model.int8.onnx", INTEGRITY, MARKER}
    for listing in (INTEGRITY, MARKER):
        try:
            files = json.loads((out / listing).read_text())["files"]
            names.update(files)
            names.update(f"{n}.enc" for n in files)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return [out / n for n in sorted(names) if (out / n).is_file()]


@contextmanager
def staged_bundle(out: str | Path, key: bytes | None = None) -> Iterator[Path]:
    """Build a bundle in a private staging folder inside ``out``; move it into place when
    the block ends without an exception (the integrity list or encrypted index last),
    replacing a bundle already there; remove the staging folder otherwise.

    With ``key`` the staging folder is an encrypted bundle from the start, so every file
    written with :func:`write_bundle_file` is sealed as it is written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(_STAGING + "*"):  # left by a killed run (sealed or plain)
        shutil.rmtree(old, ignore_errors=True)
    stage = out / f"{_STAGING}{secrets.token_hex(4)}"
    stage.mkdir(mode=0o700)
    try:
        if key is not None:
            start_encrypted(stage, key, secrets.token_hex(16))
        yield stage
        last = MARKER if key is not None else INTEGRITY
        previous = _previous_files(out)
        new = {p.name for p in stage.iterdir()}
        for p in sorted(stage.iterdir()):
            if p.name != last:
                os.replace(p, out / p.name)
        for p in previous:  # an old bundle's files that the new one does not have
            if p.name not in new or p.name == last:
                p.unlink()
        if (stage / last).is_file():
            os.replace(stage / last, out / last)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def train_output(out: str | Path, *, overwrite: bool = False, resume: bool = False,
                 private: bool = False) -> Iterator[Path]:
    """The ``--out`` folder of ``healthnn train``, locked for this run.

    A folder that already holds a bundle is refused unless ``overwrite`` (which deletes
    everything in it first, so no stale file such as an old ``model.onnx`` survives) or
    ``resume`` (which continues from the checkpoint there). A second run into the same
    folder while this one holds the lock is refused. ``private``: create the folder 0700.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError("--out is a file, expected a folder for the bundle", file=str(out))
    out.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    with folder_lock(out, what="another 'healthnn train'") as lock:
        if holds_bundle(out) and not resume:
            if not overwrite:
                raise OutputError("this folder already holds a bundle", file=str(out),
                                  hint="pass --overwrite to replace it (its files are deleted "
                                  "first), or choose another --out")
            for p in out.iterdir():
                if p != lock:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        yield out


_SEALED_CHECKPOINT = b"HEALTHNN-SEALED-CHECKPOINT-1\n"


def save_checkpoint(path: str | Path, state: dict, key: bytes | None = None) -> None:
    """Write a training checkpoint atomically, owner-readable only (0600); with ``key``
    sealed (AES-256-GCM) in memory before it is written, so no plaintext reaches the disk."""
    import io

    import torch

    from healthnn.privacy.encryption import seal

    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    if key is not None:
        data = _SEALED_CHECKPOINT + seal(key, data, "checkpoint:" + path.name)
    write_bytes(path, data, perms=0o600)


def load_checkpoint(path: str | Path, key: bytes | None = None) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; a damaged, truncated or
    sealed-without-key checkpoint is a :class:`BundleError` naming the file."""
    import io

    import torch

    from healthnn.privacy.encryption import open_sealed

    path = Path(path)
    hint = "start again without --resume: the checkpoint cannot be used"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read the checkpoint ({exc.strerror})", file=str(path),
                          hint=hint) from None
    if data.startswith(_SEALED_CHECKPOINT):
        if key is None:
            raise BundleError("the checkpoint is encrypted", file=str(path),
                              hint="resume with --encrypt and the same --key-file")
        data = open_sealed(key, data[len(_SEALED_CHECKPOINT):], "checkpoint:" + path.name,
                           file=str(path))
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling / zip error means a damaged file
        raise BundleError("the checkpoint is damaged or truncated", file=str(path),
                          hint=hint) from None
    if not isinstance(state, dict):
        raise BundleError("not a healthnn checkpoint", file=str(path), hint=hint)
    return state


def remove_checkpoints(out: str | Path) -> None:
    """Delete the training checkpoints in ``out`` once its bundle is in place."""
    for p in Path(out).glob("checkpoint*.pt"):
        p.unlink(missing_ok=True)


_SEALING: ContextVar[bytes | None] = ContextVar("healthnn_sealing_key", default=None)


@contextmanager
def sealing(key: bytes | None) -> Iterator[None]:
    """While the block runs, :func:`sealing_key` gives ``key`` to runs that are not given
    one: the extra models a ``train --encrypt`` fits on the way (out-of-fold outputs for the
    operating point, learning curves) are sealed like the bundle."""
    token = _SEALING.set(key if key is not None else _SEALING.get())
    try:
        yield
    finally:
        _SEALING.reset(token)


def sealing_key(given: bytes | None) -> bytes | None:
    """``given``, else the key of an enclosing :func:`sealing` block (None outside one)."""
    return given if given is not None else _SEALING.get()
