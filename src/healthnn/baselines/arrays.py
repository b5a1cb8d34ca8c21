"""Arrays as JSON-safe text (exact little-endian bytes, zlib-compressed, base64), for
baselines saved without pickle.

>>> import numpy as np
>>> a = np.array([[1.5, -2.0], [0.0, 3.25]])
>>> bool(np.array_equal(unpack(pack(a)), a))
True
>>> unpack(pack(np.array([3, -1]), "<i4")).dtype.str
'<i4'
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

__all__ = ["pack", "unpack"]


def pack(a: np.ndarray, dtype: str = "<f8") -> dict[str, Any]:
    """``{"shape", "dtype", "data"}`` of ``a`` stored exactly as ``dtype`` (default float64)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    data = base64.b64encode(zlib.compress(a.tobytes(), 6)).decode("ascii")
    return {"shape": list(a.shape), "dtype": dtype, "data": data}


def unpack(d: dict[str, Any]) -> np.ndarray:
    """The array :func:`pack` wrote."""
    raw = zlib.decompress(base64.b64decode(d["data"]))
    return np.frombuffer(raw, dtype=d["dtype"]).reshape(d["shape"]).copy()
