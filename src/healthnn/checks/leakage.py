"""Leakage check on the training split, before a model is trained (issue 19, item 2).

A predictor that gives the outcome away makes a model look excellent on a test split and
useless in the clinic (FLCHAIN's ``chapter``, the cause of death, is missing exactly when a
patient is censored). :func:`leakage_check` is a pure function over the training split that
flags:

* ``value``: a column whose value alone predicts the outcome almost perfectly (single-column
  AUROC, or for survival Harrell's C-index or the AUROC for the event indicator, of at least
  :data:`THRESHOLD`); categorical columns are scored by the outcome rate of their level,
  a missing value being a level of its own;
* ``missingness``: a numeric column whose *missingness* alone does so;
* ``transformation``: a column equal to a (monotone) transformation of the target
  (Spearman ``|rho| >= 0.99`` with a numeric target or the survival time; a one-to-one
  recoding of the classes);
* ``identifier``: an integer or text column with a distinct value in nearly every row (of at
  least 100), or in most rows when its name says so (``id``, ``mrn``, ``record``, ...);
* ``duplicates``: validation or test rows identical to a training row in every column, when
  the training rows themselves are nearly all distinct.

Only column names and aggregate scores are reported, never a value of a row.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> died = rng.integers(0, 2, 200)
>>> df = pd.DataFrame({"age": rng.normal(60, 10, 200),
...                    "cause": np.where(died == 1, rng.choice(["cardiac", "cancer"], 200),
...                                      None)})
>>> [(f["kind"], f["column"]) for f in leakage_check(df, died, kind="classification")]
[('value', 'cause')]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from healthnn.metrics.classification import auroc
from healthnn.metrics.survival import harrell_c

__all__ = ["THRESHOLD", "leakage_check", "duplicate_rows", "format_finding"]

#: A single-column AUROC or C-index at or above this is flagged.
THRESHOLD = 0.95
_RHO = 0.99  # |Spearman| for "a transformation of the target"
_MIN_ROWS = 20  # fewer training rows (or non-missing values): too few to tell
_MIN_LEVEL = 5  # levels with fewer rows share one pooled outcome rate
_ID_NAME = re.compile(r"(^|[_\W])(id|mrn|uuid|record|subject|patient|stay|encounter)"
                      r"([_\W]|$)", re.IGNORECASE)


def _oriented(score: float) -> float:
    return max(score, 1.0 - score)


def _auroc_ovr(codes: np.ndarray, score: np.ndarray) -> float:
    """Mean over classes of the (oriented) one-vs-rest AUROC of one score."""
    values = []
    for c in np.unique(codes):
        y = (codes == c).astype(int)
        if 0 < y.sum() < len(y) and np.ptp(score) > 0:
            values.append(_oriented(auroc(y, score)))
    if len(np.unique(codes)) == 2:
        return values[0] if values else float("nan")
    return float(np.mean(values)) if values else float("nan")


def _level_scores(col: pd.Series, outcome: np.ndarray) -> np.ndarray:
    """Each row's level's mean outcome (missing is a level; small levels pooled)."""
    text = col.astype(object).where(col.notna(), "\0missing").astype(str).to_numpy()
    levels, inv, counts = np.unique(text, return_inverse=True, return_counts=True)
    small = counts[inv] < _MIN_LEVEL
    inv = np.where(small, -1, inv)
    means = pd.Series(outcome).groupby(inv).mean()
    return means.reindex(inv).to_numpy(dtype=float)


def _score(score: np.ndarray, y: Mapping[str, np.ndarray], kind: str) -> dict[str, float]:
    """Single-score discrimination: ``{"auroc": ...}`` or ``{"c_index": ...}``."""
    out: dict[str, float] = {}
    if np.ptp(score) == 0:
        return out
    if kind == "classification":
        out["auroc"] = _auroc_ovr(y["codes"], score)
    elif kind == "survival":
        t, e = y["time"], y["event"].astype(bool)
        if e.any():
            out["c_index"] = _oriented(harrell_c(t, e, score))
        if 0 < e.sum() < len(e):
            out["auroc for the event indicator"] = _oriented(auroc(e.astype(int), score))
    else:
        target = y["target"]
        out["c_index"] = _oriented(harrell_c(target, np.ones(len(target), bool), -score))
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def _outcome_for_levels(y: Mapping[str, np.ndarray], kind: str) -> list[np.ndarray]:
    if kind == "classification":
        return [(y["codes"] == c).astype(float) for c in np.unique(y["codes"])]
    if kind == "survival":
        return [y["event"].astype(float)]
    return [y["target"].astype(float)]


def _finding(kind: str, column: str, scores: dict[str, float], text: str) -> dict[str, Any]:
    return {"kind": kind, "column": column, "scores": scores, "text": text}


def _best(scores: dict[str, float]) -> tuple[str, float] | None:
    hits = [(k, v) for k, v in scores.items() if v >= THRESHOLD]
    return max(hits, key=lambda kv: kv[1]) if hits else None


def _check_column(name: str, col: pd.Series, y: Mapping[str, np.ndarray],
                  kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    missing = col.isna().to_numpy()
    if numeric and 0 < missing.sum() < len(col):
        hit = _best(_score(missing.astype(float), y, kind))
        if hit:
            found.append(_finding("missingness", name, {hit[0]: hit[1]},
                                  f"whether '{name}' is missing predicts the outcome "
                                  f"({hit[0]} {hit[1]:.3f} on the training split)"))
    if numeric and (~missing).sum() >= _MIN_ROWS:
        ok = ~missing
        values = col.to_numpy(dtype=float)[ok]
        sub = {k: v[ok] for k, v in y.items()}
        target = sub.get("target", sub.get("time"))
        if target is not None and np.ptp(values) > 0 and np.ptp(target) > 0:
            from scipy.stats import spearmanr

            rho = float(spearmanr(values, target).statistic)
            if abs(rho) >= _RHO:
                what = "the target" if kind != "survival" else "the survival time"
                return found + [_finding("transformation", name, {"spearman": abs(rho)},
                                         f"'{name}' is a transformation of {what} "
                                         f"(|Spearman rho| {abs(rho):.3f})")]
        hit = _best(_score(values, sub, kind))
    else:
        if kind == "classification" and _recodes(col, y["codes"]):
            return found + [_finding("transformation", name, {},
                                     f"'{name}' is a recoding of the target classes")]
        scores: dict[str, float] = {}
        for outcome in _outcome_for_levels(y, kind):
            for k, v in _score(_level_scores(col, outcome), y, kind).items():
                scores[k] = max(scores.get(k, 0.0), v)
        hit = _best(scores)
    if hit:
        found.append(_finding("value", name, {hit[0]: hit[1]},
                              f"'{name}' alone predicts the outcome ({hit[0]} {hit[1]:.3f} "
                              "on the training split)"))
    return found


def _recodes(col: pd.Series, codes: np.ndarray) -> bool:
    text = col.astype(object).where(col.notna(), "\0missing").astype(str)
    pairs = pd.DataFrame({"v": text.to_numpy(), "c": codes}).drop_duplicates()
    return (len(pairs) == pairs["v"].nunique() == pairs["c"].nunique()
            == len(np.unique(codes)) > 1)


def _identifier(name: str, col: pd.Series) -> dict[str, Any] | None:
    values = col.dropna()
    if len(values) < _MIN_ROWS:
        return None
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and not np.all(np.mod(values.to_numpy(dtype=float), 1) == 0):
        return None  # a measurement with decimals is distinct by nature
    share = values.nunique() / len(values)
    # distinct values alone say little in a small table (30 cholesterol values may all
    # differ); an identifier's name says more
    if (share >= 0.95 and len(values) >= 100) or (share >= 0.5 and _ID_NAME.search(name)):
        return _finding("identifier", name, {"distinct": round(float(share), 3)},
                        f"'{name}' looks like an identifier ({values.nunique()} distinct "
                        f"values in {len(values)} training rows)")
    return None


def duplicate_rows(train: pd.DataFrame, others: Mapping[str, pd.DataFrame]
                   ) -> list[dict[str, Any]]:
    """Rows of ``others`` (``{"test": frame, ...}``) identical to a training row in every
    column of ``train``, reported when the training rows are nearly all distinct (>= 95%;
    otherwise repeats are the nature of the table).

    Examples
    --------
    >>> import pandas as pd
    >>> tr = pd.DataFrame({"a": range(30), "b": range(30, 60)})
    >>> duplicate_rows(tr, {"test": tr.iloc[:3]})[0]["text"]
    '3 test row(s) are identical to a training row'
    """
    cols = list(train.columns)
    hashed = pd.util.hash_pandas_object(train[cols], index=False)
    if len(train) < _MIN_ROWS or hashed.nunique() < 0.95 * len(train):
        return []
    seen = set(hashed.tolist())
    found = []
    for split, frame in others.items():
        if not set(cols) <= set(frame.columns) or not len(frame):
            continue
        same = pd.util.hash_pandas_object(frame[cols], index=False).isin(seen)
        if same.any():
            found.append(_finding("duplicates", split, {"rows": int(same.sum())},
                                  f"{int(same.sum())} {split} row(s) are identical to a "
                                  "training row"))
    return found


def leakage_check(df: pd.DataFrame, y: Any, *, kind: str, columns: Sequence[str] | None = None,
                  time: Any = None, event: Any = None) -> list[dict[str, Any]]:
    """Columns of the training split that would leak the outcome.

    Parameters
    ----------
    df : DataFrame
        The training split (predictor columns; nothing is changed).
    y : array of shape (n,) or None
        The target: class labels (``kind="classification"``), numbers
        (``"regression"``); None for survival.
    kind : {"classification", "regression", "survival"}
    columns : sequence of str, optional
        Predictor columns to check (default: every column of ``df``).
    time, event : array of shape (n,), optional
        Survival time and event indicator (``kind="survival"``).

    Returns
    -------
    list of dict
        ``{"kind", "column", "scores", "text"}`` per finding (``kind`` one of ``value``,
        ``missingness``, ``transformation``, ``identifier``), in column order. Fewer than
        20 training rows: nothing is checked.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"mrn": range(100, 130), "x": [0.5, 1.5] * 15})
    >>> [f["text"] for f in leakage_check(df, [0, 1] * 15, kind="classification")]
    ["'mrn' looks like an identifier (30 distinct values in 30 training rows)", \
"'x' alone predicts the outcome (auroc 1.000 on the training split)"]
    """
    if kind not in ("classification", "regression", "survival"):
        raise ValueError(f"kind must be classification, regression or survival, not {kind!r}")
    if len(df) < _MIN_ROWS:
        return []
    if kind == "survival":
        labels = {"time": np.asarray(time, dtype=float), "event": np.asarray(event, dtype=float)}
    elif kind == "classification":
        labels = {"codes": np.unique(np.asarray(y).astype(str), return_inverse=True)[1]}
    else:
        labels = {"target": np.asarray(y, dtype=float)}
    found: list[dict[str, Any]] = []
    for name in (list(df.columns) if columns is None else columns):
        col = df[name].reset_index(drop=True)
        if col.isna().all():
            continue
        ident = _identifier(name, col)
        if ident is not None:
            found.append(ident)
            continue
        found += _check_column(name, col, labels, kind)
    return found


def format_finding(f: Mapping[str, Any]) -> str:
    """One finding as a line for the command line and the report.

    >>> format_finding({"kind": "identifier", "column": "mrn", "scores": {},
    ...                 "text": "'mrn' looks like an identifier"})
    "possible leakage: 'mrn' looks like an identifier"
    """
    return f"possible leakage: {f['text']}"
