"""What every image reader shares: the error type, per-image scaling and safe error text."""

from __future__ import annotations

import numpy as np

from healthnn.errors import DataError

__all__ = ["ImageError", "minmax01", "describe_error"]


class ImageError(DataError):
    """An image file cannot be used (missing, empty, corrupt, unsupported)."""


def minmax01(a: np.ndarray) -> np.ndarray:
    """``float32`` scaled to ``[0, 1]`` per image (all zeros for a constant image).

    >>> minmax01(np.array([2, 4, 6])).tolist()
    [0.0, 0.5, 1.0]
    """
    a = a.astype(np.float32)
    lo, hi = float(np.min(a)), float(np.max(a))
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def describe_error(exc: Exception) -> str:
    """A decoder's exception as ``Type: first line`` (at most 120 characters) for a message;
    decoders describe the file's structure, never its header values."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
