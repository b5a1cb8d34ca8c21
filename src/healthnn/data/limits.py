"""Size limits that every reader checks before it decodes or unpacks anything.

A small file can declare a huge image (a 236 KB PNG of 9000 x 9000 pixels) or unpack to a
huge one (a 9 KB zstd Parquet file of 442 MB, a 510 KB deflated DICOM of 512 MB). Each reader
takes its limits as plain keyword arguments (``max_pixels``, ``max_unpacked_bytes``,
``max_rows``) and checks them from the file's header or metadata first; a file over a limit
is a :class:`TooLargeError`, one line naming the file, the size and the setting.

A caller several layers up (the server, which reads uploads through a task) sets the limits
for everything read inside a block with :func:`read_limits` instead of threading them
through every signature; a reader's explicit argument wins over the block's value.

>>> current_limits().max_pixels
50000000
>>> with read_limits(max_pixels=1000):
...     current_limits().max_pixels
1000
"""

from __future__ import annotations

import contextlib
import contextvars
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from healthnn.errors import DataError

__all__ = ["DEFAULT_MAX_PIXELS", "DEFAULT_MAX_UNPACKED_BYTES", "Limits", "TooLargeError",
           "current_limits", "read_limits", "resolve", "check_pixels", "inflate", "gzip_size"]

DEFAULT_MAX_PIXELS = 50_000_000          # a 7000 x 7000 radiograph; Pillow's own guard is 179 M
DEFAULT_MAX_UNPACKED_BYTES = 4 * 2**30   # what a table, a .nii.gz or a deflated DICOM may unpack to


class TooLargeError(DataError):
    """A file declares (or unpacks to) more than a reader's limit allows."""


@dataclass(frozen=True)
class Limits:
    """The limits readers apply; ``None`` for no limit (``max_rows``)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_rows: int | None = None


_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("healthnn_read_limits",
                                                                 default=Limits())


def current_limits() -> Limits:
    """The limits in force here (the defaults outside any :func:`read_limits` block)."""
    return _LIMITS.get()


@contextlib.contextmanager
def read_limits(**changes: int | None) -> Iterator[Limits]:
    """Apply ``max_pixels``, ``max_unpacked_bytes`` or ``max_rows`` to every reader called
    inside the block (this thread or task only; ``asyncio.to_thread`` carries it along)."""
    for key, value in changes.items():
        if key not in Limits.__dataclass_fields__:
            raise TypeError(f"unknown read limit '{key}'")
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ValueError(f"{key} must be a positive whole number, got {value!r}")
    token = _LIMITS.set(replace(_LIMITS.get(), **changes))
    try:
        yield _LIMITS.get()
    finally:
        _LIMITS.reset(token)


def resolve(max_pixels: int | None = None, max_unpacked_bytes: int | None = None) -> Limits:
    """The block's limits with a reader's explicit arguments put in."""
    lim = current_limits()
    return replace(lim, max_pixels=lim.max_pixels if max_pixels is None else int(max_pixels),
                   max_unpacked_bytes=(lim.max_unpacked_bytes if max_unpacked_bytes is None
                                       else int(max_unpacked_bytes)))


def check_pixels(shape: tuple[int, ...], max_pixels: int, *, file: str,
                 what: str = "image") -> None:
    """Refuse an image whose declared ``shape`` (height, width[, frames]) holds more than
    ``max_pixels`` pixels, before anything is decoded.

    >>> check_pixels((9000, 9000), 50_000_000, file="big.png")
    Traceback (most recent call last):
    ...
    healthnn.data.limits.TooLargeError: big.png: image of 9000 x 9000 = 81.0 M pixels is over \
the limit of 50.0 M pixels (downscale it, or raise max_pixels)
    """
    n = 1
    for s in shape:
        n *= max(int(s), 0)
    if n > max_pixels:
        dims = " x ".join(str(int(s)) for s in shape)
        raise TooLargeError(f"{what} of {dims} = {_count(n)} pixels is over the limit of "
                            f"{_count(max_pixels)} pixels", file=file,
                            hint="downscale it, or raise max_pixels")


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1_000_000 else f"{n:,}"


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def inflate(data: bytes, limit: int, *, file: str, wbits: int = -zlib.MAX_WBITS,
            what: str = "compressed data") -> bytes:
    """Unpack zlib/deflate/gzip ``data`` (``wbits`` as in :mod:`zlib`), refusing output over
    ``limit`` bytes without ever holding more than that.

    >>> import zlib
    >>> inflate(zlib.compress(b"abc" * 10), 100, file="x", wbits=zlib.MAX_WBITS)
    b'abcabcabcabcabcabcabcabcabcabc'
    """
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error:
        raise DataError(f"{what} is corrupt (cannot be unpacked)", file=file,
                        hint="re-export or remove it") from None
    if len(out) > limit:
        raise TooLargeError(f"{what} unpacks to more than {_mb(limit)}", file=file,
                            hint="raise max_unpacked_bytes if the file is genuine")
    return out


def gzip_size(path: Path, limit: int) -> int:
    """The unpacked size of a gzip file, streamed in 1 MB pieces; a :class:`TooLargeError`
    as soon as it passes ``limit`` bytes (nothing is kept)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                chunk = d.decompress(block, 1 << 20)
                while True:
                    total += len(chunk)
                    if total > limit:
                        raise TooLargeError(f"gzip data unpacks to more than {_mb(limit)}",
                                            file=str(path),
                                            hint="raise max_unpacked_bytes if the file is genuine")
                    if not d.unconsumed_tail:
                        break
                    chunk = d.decompress(d.unconsumed_tail, 1 << 20)
    except zlib.error:
        raise DataError("gzip data is corrupt (cannot be unpacked)", file=str(path),
                        hint="re-export or remove it") from None
    return total
