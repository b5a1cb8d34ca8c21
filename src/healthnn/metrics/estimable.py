"""Metrics that the evaluation rows cannot give, reported as such (issue 19, items 4 and 6).

A metric entry is ``{"value": v, "ci_low": lo, "ci_high": hi}``. When the rows cannot
estimate it, the entry says so instead of showing a fake-precise number:

* ``"estimable": False`` with a ``"note"``: the value itself is withheld (``value`` NaN,
  ``null`` in JSON); ``"point"`` keeps the number computed on the rows, if any, for the
  curious. Causes: a class (or the events) with fewer than :data:`MIN_CLASS_ROWS` rows, fewer
  than half the bootstrap resamples giving a value, or a metric that cannot be computed at
  all (no events, follow-up too short).
* a ``"note"`` with NaN interval bounds and ``estimable`` absent: the value stands, but its
  interval is not estimable (every resample gave the same value, so a zero-width interval
  would pretend a precision the rows do not have).

Examples
--------
>>> m = not_estimable("the smallest class has 1 row; at least 5 are needed", point=0.333)
>>> m["estimable"], m["point"]
(False, 0.333)
>>> format_metric(m)
'not estimable (the smallest class has 1 row; at least 5 are needed)'
>>> format_metric({"value": 0.8123, "ci_low": 0.75, "ci_high": 0.87})
'0.812 [0.750, 0.870]'
>>> format_metric({"value": 1.0, "ci_low": float("nan"), "ci_high": float("nan"),
...                "note": "every resample gave 1.000"})
'1.000 (interval not estimable: every resample gave 1.000)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from healthnn.errors import DataError

__all__ = ["MIN_CLASS_ROWS", "POOLED_METRICS", "not_estimable", "is_estimable", "format_metric",
           "evaluate_or_not_estimable", "multilabel_small_labels"]

#: A class (or, for survival, the events or the censored rows) with fewer test rows than
#: this makes the metrics that depend on it not estimable.
MIN_CLASS_ROWS = 5

#: Metrics over all rows together, which a small class does not make unestimable.
POOLED_METRICS = frozenset({"accuracy", "brier", "log_loss", "ece"})


def not_estimable(note: str, point: float | None = None) -> dict[str, Any]:
    """A metric entry whose value is withheld, with the reason.

    Parameters
    ----------
    note : str
        Why the rows cannot estimate the metric (no data values in it).
    point : float, optional
        The number computed on the rows anyway, kept as ``"point"``.

    Returns
    -------
    dict
        ``{"value": nan, "ci_low": nan, "ci_high": nan, "estimable": False, "note": note}``
        (and ``"point"``).

    Examples
    --------
    >>> not_estimable("no events in the test rows")["value"]
    nan
    """
    out: dict[str, Any] = {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                           "estimable": False, "note": note}
    if point is not None and math.isfinite(point):
        out["point"] = float(point)
    return out


def is_estimable(m: Mapping[str, Any] | None) -> bool:
    """Whether a metric entry has a value (its interval may still be missing).

    Examples
    --------
    >>> is_estimable({"value": 0.7, "ci_low": 0.6, "ci_high": 0.8})
    True
    >>> is_estimable(not_estimable("too few rows"))
    False
    """
    if not m or m.get("estimable") is False:
        return False
    v = m.get("value")
    return isinstance(v, (int, float)) and math.isfinite(v)


def _num(v: Any, digits: int) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "n/a"
    return f"{v:.{digits}f}"


def format_metric(m: Mapping[str, Any] | None, digits: int = 3) -> str:
    """One metric entry as text: ``0.812 [0.750, 0.870]``, or why it is not estimable.

    Parameters
    ----------
    m : mapping or None
        A metric entry (``value``, ``ci_low``, ``ci_high``; ``estimable`` and ``note``
        when the rows could not estimate it).
    digits : int
        Decimals.

    Returns
    -------
    str

    Examples
    --------
    >>> format_metric(None)
    'n/a'
    >>> format_metric({"value": 0.5, "ci_low": None, "ci_high": None})
    '0.500'
    """
    if not m:
        return "n/a"
    if m.get("estimable") is False:
        return f"not estimable ({m['note']})" if m.get("note") else "not estimable"
    text = _num(m.get("value"), digits)
    lo, hi = m.get("ci_low"), m.get("ci_high")
    if m.get("note") and text != "n/a":
        return f"{text} (interval not estimable: {m['note']})"
    if lo is not None and hi is not None:
        text += f" [{_num(lo, digits)}, {_num(hi, digits)}]"
    return text


def evaluate_or_not_estimable(evaluate: Callable[..., dict[str, Any]], *args: Any,
                              **kwargs: Any) -> dict[str, Any]:
    """``evaluate(*args, **kwargs)``, or one not-estimable entry when the rows cannot give
    the metrics, so that a trained model is never lost to a metric.

    Only :class:`healthnn.errors.DataError` (the data cannot give the metric) is turned
    into ``{"metrics": not_estimable(message)}``; programming errors propagate.

    Examples
    --------
    >>> def fails(): raise DataError("no events in the evaluation data")
    >>> evaluate_or_not_estimable(fails)["metrics"]["note"]
    'no events in the evaluation data'
    """
    try:
        return evaluate(*args, **kwargs)
    except DataError as exc:
        return {"metrics": not_estimable(exc.message)}


#: Multi-label metrics that average over labels, which a label with few rows makes unestimable.
LABEL_AVERAGED = ("f1_macro", "auroc_macro", "auprc_macro")


def multilabel_small_labels(metrics: dict[str, Any], y: Any, labels: list[str]
                            ) -> dict[str, Any]:
    """Multi-label metrics with the label-averaged ones marked not estimable when a label has
    fewer than :data:`MIN_CLASS_ROWS` positive or negative rows (``y``: (n, K) 0/1).

    >>> import numpy as np
    >>> y = np.array([[1, 0]] * 10 + [[0, 1]] * 2)
    >>> m = {"f1_macro": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
    ...      "hamming_loss": {"value": 0.1, "ci_low": 0.0, "ci_high": 0.2}}
    >>> out = multilabel_small_labels(m, y, ["a", "b"])
    >>> out["f1_macro"]["estimable"], "estimable" in out["hamming_loss"]
    (False, False)
    """
    import numpy as np

    y = np.asarray(y)
    pos = y.sum(0)
    small = [(lab, int(min(p, len(y) - p))) for lab, p in zip(labels, pos, strict=True)
             if min(p, len(y) - p) < MIN_CLASS_ROWS]
    if not small:
        return metrics
    lab, n = small[0]
    note = (f"label '{lab}' has {n} positive or negative row(s); at least {MIN_CLASS_ROWS} "
            "are needed")
    out = dict(metrics)
    for name in LABEL_AVERAGED:
        if name in out and is_estimable(out[name]):
            out[name] = not_estimable(note, point=out[name].get("value"))
    return out
