"""Table 1 (per-split characteristics), train/test shift and subgroup metrics: aggregates only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["describe_split", "shift", "subgroup_levels", "flag_gaps", "SMD_FLAG"]

SMD_FLAG = 0.1  # |standardised mean difference| above this is flagged (Austin, 2009)
MIN_CELL = 5  # category levels with fewer rows are pooled, never named (free text, rare values)
SMALL = f"(levels with < {MIN_CELL} rows)"
_MAX_LEVELS = 12


def _f(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _numbers(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def _labels(s: pd.Series) -> pd.Series:
    out = s.astype(object).where(s.notna(), None)
    text = out.astype(str).str.strip()
    missing = out.isna() | (text == "") | (text.str.lower() == "nan")
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True).where(~missing, None)


def _numeric_stats(v: np.ndarray) -> dict[str, Any]:
    ok = v[np.isfinite(v)]
    out: dict[str, Any] = {"n": int(v.size), "missing": int(v.size - ok.size)}
    if ok.size:
        q1, med, q3 = np.quantile(ok, [0.25, 0.5, 0.75])
        out.update(mean=_f(ok.mean()), sd=_f(ok.std(ddof=1)) if ok.size > 1 else None,
                   median=_f(med), q1=_f(q1), q3=_f(q3))
        if set(np.unique(ok)) <= {0.0, 1.0}:  # a 0/1 column: Table 1 shows n (%) of 1s
            out.update(binary=True, positive=int(ok.sum()))
    return out


def _categorical_stats(s: pd.Series) -> dict[str, Any]:
    """Counts per level; levels with fewer than MIN_CELL rows are pooled into one entry so
    that rare values (or free text put in a categorical column) are never written out."""
    lab = _labels(s)
    counts = lab.dropna().value_counts()
    big = counts[counts >= MIN_CELL]
    out = {str(k): int(v) for k, v in big.items()}
    small = int(counts[counts < MIN_CELL].sum())
    if small:
        out[SMALL] = small
    return {"n": int(len(s)), "missing": int(lab.isna().sum()), "counts": out}


def describe_split(df: pd.DataFrame | None, y: dict[str, np.ndarray],
                   columns: dict[str, list[str]]) -> dict[str, Any]:
    """Rows, outcome summary and per-column statistics of one split."""
    n = len(next(iter(y.values()))) if y else (0 if df is None else len(df))
    out: dict[str, Any] = {"rows": int(n), "outcome": {}, "numeric": {}, "categorical": {}}
    for name, values in y.items():
        arr = np.asarray(values)
        if arr.dtype.kind in "fiub":
            fin = arr[np.isfinite(arr.astype(float))].astype(float)
            if fin.size and set(np.unique(fin)) <= {0.0, 1.0}:
                out["outcome"][name] = {"kind": "binary", "n": int(arr.size),
                                        "positive": int(fin.sum())}
            else:
                out["outcome"][name] = {"kind": "numeric", **_numeric_stats(arr.astype(float))}
        else:
            out["outcome"][name] = {"kind": "categorical",
                                    **_categorical_stats(pd.Series(arr))}
            sizes = pd.Series(arr).value_counts()
            # a count only, never a level: the events warning needs the smallest class
            out["outcome"][name]["smallest"] = int(sizes.min()) if len(sizes) else 0
    if df is not None:
        for col in columns.get("numeric", []):
            if col in df.columns:
                out["numeric"][col] = _numeric_stats(_numbers(df[col]))
        for col in columns.get("categorical", []):
            if col in df.columns:
                out["categorical"][col] = _categorical_stats(df[col])
    return out


def _smd_means(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    if a.get("mean") is None or b.get("mean") is None:
        return None
    va, vb = (a.get("sd") or 0.0) ** 2, (b.get("sd") or 0.0) ** 2
    pooled = math.sqrt((va + vb) / 2)
    if pooled == 0:
        return 0.0 if a["mean"] == b["mean"] else None
    return (b["mean"] - a["mean"]) / pooled


def _smd_prop(p1: float, p2: float) -> float | None:
    pooled = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    if pooled == 0:
        return 0.0 if p1 == p2 else None
    return (p2 - p1) / pooled


def shift(reference: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    """Standardised mean differences (other - reference) for every numeric column, the
    missing fraction, and every level of every categorical column; |SMD| > 0.1 flagged."""
    rows: list[dict[str, Any]] = []

    def add(variable: str, level: str, smd: float | None, ref: float | None, oth: float | None):
        rows.append({"variable": variable, "level": level, "reference": ref, "other": oth,
                     "smd": smd, "flag": smd is not None and abs(smd) > SMD_FLAG})

    for col, a in reference.get("numeric", {}).items():
        b = other.get("numeric", {}).get(col)
        if b is None:
            continue
        add(col, "mean", _smd_means(a, b), a.get("mean"), b.get("mean"))
        if a["n"] and b["n"] and (a["missing"] or b["missing"]):
            pa, pb = a["missing"] / a["n"], b["missing"] / b["n"]
            add(col, "missing", _smd_prop(pa, pb), pa, pb)
    for col, a in reference.get("categorical", {}).items():
        b = other.get("categorical", {}).get(col)
        if b is None or not a["n"] or not b["n"]:
            continue
        levels = list(a["counts"])[:_MAX_LEVELS]
        levels += [lv for lv in b["counts"] if lv not in a["counts"]][:3]
        for lv in levels:
            pa, pb = a["counts"].get(lv, 0) / a["n"], b["counts"].get(lv, 0) / b["n"]
            add(col, lv, _smd_prop(pa, pb), pa, pb)
    for col, a in reference.get("outcome", {}).items():
        b = other.get("outcome", {}).get(col)
        if b is None or a.get("kind") != b.get("kind"):
            continue
        if a["kind"] == "binary" and a["n"] and b["n"]:
            pa, pb = a["positive"] / a["n"], b["positive"] / b["n"]
            add(f"{col} (outcome)", "= 1", _smd_prop(pa, pb), pa, pb)
        elif a["kind"] == "numeric":
            add(f"{col} (outcome)", "mean", _smd_means(a, b), a.get("mean"), b.get("mean"))
        elif a["kind"] == "categorical" and a["n"] and b["n"]:
            for lv in list(a["counts"])[:_MAX_LEVELS]:
                pa, pb = a["counts"].get(lv, 0) / a["n"], b["counts"].get(lv, 0) / b["n"]
                add(f"{col} (outcome)", lv, _smd_prop(pa, pb), pa, pb)
    return rows


def subgroup_levels(s: pd.Series, *, max_levels: int = 10,
                    min_size: int = MIN_CELL) -> tuple[pd.Series, str, list[str]]:
    """Level of every row for a subgroup column: the values themselves, or quartiles for a
    numeric column with more than ``max_levels`` distinct values (labelled by the inner cut
    points only, never by a row's own minimum or maximum); missing values form "(missing)";
    levels with fewer than ``min_size`` rows are pooled. Returns (levels, how, order).

    >>> lv, how, order = subgroup_levels(pd.Series(range(20)))
    >>> how, order
    ('quartiles', ['< 4.75', '4.75 to < 9.5', '9.5 to < 14.25', '>= 14.25'])
    """
    nums = pd.to_numeric(s, errors="coerce")
    present = s.notna() & (s.astype(str).str.strip() != "")
    if nums[present].notna().all() and nums[present].nunique() > max_levels:
        cuts = np.unique(np.quantile(nums[present], [0.25, 0.5, 0.75]))
        idx = np.searchsorted(cuts, nums.to_numpy(), side="right")
        names = ([f"< {cuts[0]:.4g}"]
                 + [f"{cuts[i]:.4g} to < {cuts[i + 1]:.4g}" for i in range(cuts.size - 1)]
                 + [f">= {cuts[-1]:.4g}"])
        lv = pd.Series([names[i] for i in idx], index=s.index, dtype=object)
        lv[~present] = "(missing)"
        order = [n for n in names if (lv == n).any()] + (["(missing)"] if (~present).any()
                                                          else [])
        return lv, "quartiles", order
    lab = _labels(s).fillna("(missing)")
    counts = lab.value_counts()
    small = counts.index[counts < min_size]
    if len(small):
        lab = lab.where(~lab.isin(small), f"(levels with < {min_size} rows)")
    return lab, "levels", sorted(lab.unique(), key=lambda v: (v.startswith("("), v))


def flag_gaps(overall: dict[str, Any] | None, levels: list[dict[str, Any]], metric: str) -> None:
    """Mark a level ``flag = True`` when the overall test value of ``metric`` lies outside the
    level's confidence interval (a gap larger than sampling error explains)."""
    ref = None if overall is None else overall.get("value")
    for lv in levels:
        m = (lv.get("metrics") or {}).get(metric)
        lv["flag"] = bool(
            ref is not None and m is not None and m.get("ci_low") is not None
            and m.get("ci_high") is not None and not (m["ci_low"] <= ref <= m["ci_high"]))
