"""Percentile bootstrap confidence intervals for any dict-valued metric function."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from healthnn.metrics.estimable import not_estimable

__all__ = ["bootstrap", "CONSTANT_BY_DESIGN"]

#: Metrics that are the same in every resample by construction (a split-conformal
#: interval has one width for every row): their zero-width interval is exact, not degenerate.
CONSTANT_BY_DESIGN = frozenset({"conformal_width"})


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def bootstrap(
    metric_fn: Callable[..., Mapping[str, float]],
    arrays: Sequence[np.ndarray | None],
    *,
    n_resamples: int = 1000,
    ci: float = 0.95,
    seed: int | None = 0,
    strata: Any = None,
    min_stratum: int = 0,
    pooled: Collection[str] = (),
    constant_ok: Collection[str] = CONSTANT_BY_DESIGN,
    strata_name: str = "level of the resampling strata",
) -> dict[str, dict[str, Any]]:
    """Point estimates and percentile bootstrap intervals of ``metric_fn(*arrays)``.

    Parameters
    ----------
    metric_fn : callable
        ``metric_fn(*arrays)`` returns a dict ``{name: float}``, e.g.
        :func:`~healthnn.metrics.binary_metrics`. Bind other arguments (training data,
        evaluation times) with a lambda or :func:`functools.partial`.
    arrays : sequence of arrays
        Arrays with the same number of rows, resampled together by row. ``None``
        entries are passed through unchanged.
    n_resamples : int
        Number of bootstrap resamples.
    ci : float
        Coverage of the interval, in (0, 1).
    seed : int or None
        Seed of the random generator; the same seed gives the same intervals.
    strata : array of shape (n,), optional
        Resample rows with replacement *within* each level of ``strata`` (e.g. the
        outcome, or the event indicator), so that every resample keeps the level sizes --
        and therefore both classes / some events.
    min_stratum : int
        With ``strata``: when the smallest level has fewer rows than this, every metric
        not in ``pooled`` is reported as not estimable (0: no such check).
    pooled : collection of str
        Metrics of all rows together (accuracy, Brier score) that a small level does not
        make unestimable.
    constant_ok : collection of str
        Metrics whose zero-width interval is exact (:data:`CONSTANT_BY_DESIGN`).
    strata_name : str
        What a level of ``strata`` is, for the note (``"class"``).

    Returns
    -------
    dict
        ``{name: {"value": v, "ci_low": lo, "ci_high": hi}}`` in the order of the
        names returned on the full data. ``value`` is computed on the full data. The
        interval is the ``(1-ci)/2`` and ``(1+ci)/2`` quantiles over the resamples in
        which the metric could be computed: a resample in which ``metric_fn`` raises
        (any :class:`Exception`), or returns NaN or no value for a name, is skipped
        for that name. All numbers are Python floats (NaN possible), ready for JSON.
        Not estimable (see :mod:`healthnn.metrics.estimable`): a metric whose value is
        NaN, for which more than half of the resamples fail, or (``min_stratum``) whose
        smallest level is too small gets ``"estimable": False`` and a ``"note"``, its
        value withheld (NaN; ``"point"`` keeps it); a zero-width interval (every resample
        gave the same value; not for ``constant_ok``) gets NaN bounds and a ``"note"``.

    Raises
    ------
    ValueError
        No arrays, arrays (or ``strata``) of different lengths, ``n_resamples < 0``
        (``0`` gives point estimates with NaN intervals),
        ``ci`` outside (0, 1), or ``metric_fn`` not returning a mapping. Errors of
        ``metric_fn`` on the full data propagate.

    Examples
    --------
    >>> import numpy as np
    >>> from healthnn.metrics import binary_metrics
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 2, 200)
    >>> p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    >>> res = bootstrap(binary_metrics, [y, p], n_resamples=200, strata=y)
    >>> r = res["auroc"]
    >>> r["ci_low"] <= r["value"] <= r["ci_high"]
    True

    One row per class: every stratified resample is the data itself.

    >>> res = bootstrap(binary_metrics, [[0, 1], [0.2, 0.7]], n_resamples=50,
    ...                 strata=[0, 1], min_stratum=5, pooled=["brier"])
    >>> res["auroc"]["estimable"], res["auroc"]["note"]
    (False, 'the smallest level of the resampling strata has 1 row; at least 5 are needed')
    >>> round(res["brier"]["value"], 3), res["brier"]["note"]
    (0.065, 'every resample gave the same value')
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise ValueError(f"n_resamples must be a non-negative integer, got {n_resamples!r}")
    if not (0.0 < float(ci) < 1.0):
        raise ValueError(f"ci must be within (0, 1), got {ci!r}")
    data = [None if a is None else np.asarray(a) for a in arrays]
    lengths = {a.shape[0] if a.ndim else -1 for a in data if a is not None}
    if not lengths:
        raise ValueError("bootstrap needs at least one array to resample")
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(f"arrays must be at least 1-D with the same number of rows, got lengths {sorted(lengths)}")
    n = lengths.pop()
    if n == 0:
        raise ValueError("cannot bootstrap empty arrays")

    point = metric_fn(*data)
    if not isinstance(point, Mapping):
        raise ValueError(f"metric_fn must return a dict of name -> float, got {type(point).__name__}")
    names = list(point)

    rng = np.random.default_rng(seed)
    if strata is None:
        order = None
    else:
        s = np.asarray(strata)
        if s.ndim != 1 or s.shape[0] != n:
            raise ValueError(f"strata must be 1-D with {n} rows, got shape {s.shape}")
        _, level = np.unique(s, return_inverse=True)
        order = np.argsort(level, kind="stable")  # rows grouped by level
        sizes = np.bincount(level)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        row_start = starts[level[order]]
        row_size = sizes[level[order]]

    values = np.full((n_resamples, len(names)), np.nan)
    for b in range(n_resamples):
        if order is None:
            idx = rng.integers(0, n, size=n)
        else:
            idx = order[row_start + rng.integers(0, row_size)]
        try:
            res = metric_fn(*[None if a is None else a[idx] for a in data])
        except Exception:  # noqa: BLE001 - a failing resample is skipped, by design
            continue
        if isinstance(res, Mapping):
            values[b] = [_as_float(res.get(name, math.nan)) for name in names]

    small = None
    if order is not None and min_stratum and sizes.min() < min_stratum:
        small = (f"the smallest {strata_name} has {int(sizes.min())} "
                 f"row{'s' if sizes.min() != 1 else ''}; at least {min_stratum} are needed")
    alpha = (1.0 - float(ci)) / 2.0
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        col = values[:, j]
        ok = col[~np.isnan(col)]
        value = _as_float(point[name])
        if math.isnan(value):
            out[name] = not_estimable("cannot be computed on these rows")
            continue
        if small is not None and name not in pooled and not name.startswith("confusion_"):
            out[name] = not_estimable(small, point=value)
            continue
        if n_resamples and (n_resamples - ok.size) > n_resamples / 2:
            out[name] = not_estimable(f"only {ok.size} of {n_resamples} bootstrap resamples "
                                      "gave a value", point=value)
            continue
        if ok.size == 0:
            lo = hi = math.nan
        else:
            # infinite values (an unbounded conformal interval, say) cannot be interpolated
            method = "linear" if np.isfinite(ok).all() else "inverted_cdf"
            lo, hi = (float(x) for x in np.quantile(ok, [alpha, 1.0 - alpha], method=method))
        out[name] = {"value": value, "ci_low": lo, "ci_high": hi}
        if ok.size > 1 and lo == hi and name not in constant_ok:
            out[name].update(ci_low=math.nan, ci_high=math.nan,
                             note="every resample gave the same value")
    return out
