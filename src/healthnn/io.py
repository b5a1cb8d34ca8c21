"""Writing output files safely: whole files or nothing, never a partial file that looks complete.

Every file a command writes (predictions, spans, explanations, indexes, summaries, bundle
files, metrics and reports) goes through :func:`atomic_write` or one of the helpers built on
it: the data is written to a temporary name in the same folder (``.NAME.XXXXXXXX.partial``),
flushed to the disk (``fsync``) and renamed over ``NAME`` only when complete. An exception
or a kill midway leaves the previous complete file untouched; the temporary file is removed
on an exception (a killed process leaves a hidden ``.partial`` file, never a short ``NAME``).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text(folder / "a.txt", "complete")
>>> try:
...     with atomic_write(folder / "a.txt") as fh:
...         _ = fh.write("half")
...         raise RuntimeError("killed midway")
... except RuntimeError:
...     pass
>>> (folder / "a.txt").read_text()
'complete'
>>> sorted(p.name for p in folder.iterdir())
['a.txt']

A full disk (or another operating-system error while writing) becomes an
:class:`OutputError` naming the file, which the CLI prints as one line (exit code 2).
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from healthnn.errors import HealthnnError

__all__ = ["OutputError", "atomic_write", "atomic_path", "write_text", "write_bytes",
           "write_json", "json_ready", "same_file", "refuse_overwriting_input",
           "output_error", "folder_lock"]


class OutputError(HealthnnError):
    """An output file or folder cannot be written (full disk, no permission, locked)."""


_WHY = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
        errno.EPERM: "permission denied", errno.EFBIG: "file too large for the file system"}


def output_error(exc: OSError, path: str | Path) -> OutputError:
    """The one-line :class:`OutputError` for an operating-system error while writing ``path``.

    >>> str(output_error(OSError(28, "No space left on device"), "out.csv"))
    'out.csv: cannot write: no space left on the device (free some space or write elsewhere; nothing was replaced)'
    """
    why = _WHY.get(exc.errno, exc.strerror or type(exc).__name__)
    hint = ("free some space or write elsewhere" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else "check the folder and its permissions")
    return OutputError(f"cannot write: {why}", file=str(path),
                       hint=f"{hint}; nothing was replaced")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, mode: int = 0o666) -> Iterator[Path]:
    """A temporary path beside ``path`` for a library that writes to a path itself
    (``to_parquet``, ``safetensors.save_file``, ``torch.save``); renamed over ``path`` when
    the block ends without an exception, removed otherwise.

    ``mode`` is the permission of the new file before the umask (``0o600``: owner only).
    """
    path = Path(path)
    tmp = _temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.close(fd)
    except OSError as exc:
        raise output_error(exc, path) from None
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # the library closed it; make sure it is on the disk
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(exc, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8",
                 newline: str | None = None, errors: str | None = None,
                 perms: int = 0o666) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (``mode`` ``"w"`` or ``"wb"``) as an all-or-nothing file.

    The file object writes to a temporary name in the same folder; when the block ends it is
    flushed, synced and renamed over ``path``. An exception inside the block leaves ``path``
    as it was and removes the temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    with atomic_path(path, mode=perms) as tmp:
        try:
            fh = (open(tmp, "wb") if binary else
                  open(tmp, "w", encoding=encoding, newline=newline, errors=errors))
        except OSError as exc:
            raise output_error(exc, path) from None
        with fh:
            try:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise output_error(exc, path) from None


def write_bytes(path: str | Path, data: bytes, *, perms: int = 0o666) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb", perms=perms) as fh:
        fh.write(data)


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8",
               newline: str | None = None) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", encoding=encoding, newline=newline) as fh:
        fh.write(text)


def json_ready(obj: Any) -> Any:
    """``obj`` with NumPy scalars, paths and tuples made JSON types; NaN and inf become None.

    >>> json_ready({"a": float("nan"), 1: (2, 3)})
    {'a': None, '1': [2, 3]}
    """
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (see :func:`json_ready`) to ``path`` atomically."""
    write_text(path, json.dumps(json_ready(obj), indent=indent) + "\n")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are the same file: the same path after resolving links, or
    the same inode (a hard link).

    >>> same_file("x.csv", "./x.csv")
    True
    """
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def refuse_overwriting_input(input: str | Path, out: str | Path, *, option: str = "--out"
                             ) -> None:
    """Raise :class:`OutputError` if writing ``out`` would replace ``input`` (the same path,
    a symbolic or a hard link to it)."""
    if same_file(input, out):
        raise OutputError("output would overwrite the input", file=str(out),
                          hint=f"choose another {option}")


@contextmanager
def folder_lock(folder: str | Path, *, what: str = "another healthnn command") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (the file ``.healthnn.lock`` in it) while the
    block runs; a second process asking for it is refused at once with :class:`OutputError`.

    The lock is the operating system's (``flock``): it is released when the process ends,
    even by a kill, so a crashed run never leaves a stale lock.
    """
    import fcntl

    folder = Path(folder)
    lock = folder / ".healthnn.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise output_error(exc, lock) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{what} is writing into this folder", file=str(folder),
                              hint="wait for it to finish, or choose another --out") from None
        yield lock
    finally:
        os.close(fd)  # closing releases the lock
