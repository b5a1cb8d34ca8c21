"""Input checks shared by the metric modules (private).

Error policy for the whole :mod:`healthnn.metrics` package:

* :class:`ValueError` -- the *call* is wrong, whatever the data: arrays of different
  lengths, wrong number of dimensions, an invalid parameter (``n_bins=0``,
  ``threshold=2``, ``ci=1.5``), ``times`` not strictly increasing.
* :class:`healthnn.errors.DataError` -- the call is well formed but the *data* cannot
  give the metric: NaN or infinite values, labels other than 0/1, a single class, no
  events, negative times, probabilities outside [0, 1], evaluation times outside the
  follow-up, no comparable pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthnn.errors import DataError

__all__: list[str] = []


def as_float_array(x: Any, name: str, *, ndim: int | tuple[int, ...] = 1) -> np.ndarray:
    """``x`` as a float64 array with ``ndim`` dimensions and only finite values."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric", hint=str(exc)) from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {want}, got an array with shape {arr.shape}")
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise DataError(
            f"{name} contains {bad} NaN or infinite value(s)",
            hint="drop or impute missing values before computing metrics",
        )
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """Common first-dimension length of ``arrays``; ValueError when they differ."""
    lengths = {name: int(np.shape(a)[0]) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"inputs must have the same number of rows, got {desc}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise DataError("inputs are empty", hint="metrics need at least one row")
    return n


def as_binary(y: Any, name: str = "y_true") -> np.ndarray:
    """0/1 labels (bool, int or float) as a bool array."""
    arr = as_float_array(y, name)
    ok = (arr == 0) | (arr == 1)
    if not ok.all():
        raise DataError(
            f"{name} must contain only 0 and 1 (or False/True), found {int((~ok).sum())} other value(s)",
            hint="encode the positive class as 1",
        )
    return arr == 1


def require_both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0 or n_pos == y.size:
        only = "positive" if n_pos else "negative"
        raise DataError(
            f"{what} is undefined when y_true contains only one class (all {only})",
            hint="evaluate on data that contains both outcomes, or stratify the split",
        )


def as_probability(p: Any, name: str = "y_prob", *, ndim: int | tuple[int, ...] = 1) -> np.ndarray:
    arr = as_float_array(p, name, ndim=ndim)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise DataError(
            f"{name} must be probabilities in [0, 1], found values in [{arr.min():.4g}, {arr.max():.4g}]",
            hint="pass probabilities (e.g. a sigmoid/softmax output), not logits or scores",
        )
    return arr


def as_times(t: Any, name: str = "time") -> np.ndarray:
    arr = as_float_array(t, name)
    if arr.size and arr.min() < 0:
        raise DataError(
            f"{name} must be non-negative, found {int((arr < 0).sum())} negative value(s)",
            hint="times are durations since the start of follow-up",
        )
    return arr


def as_events(e: Any, name: str = "event") -> np.ndarray:
    return as_binary(e, name)


def require_events(event: np.ndarray, name: str = "event") -> None:
    if not event.any():
        raise DataError(
            f"{name} has no events (all samples are censored)",
            hint="survival metrics need at least one observed event",
        )
