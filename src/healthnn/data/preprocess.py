"""Table preprocessing fitted on training rows only and saved (as JSON) in the bundle.

Numeric columns: median imputation with a missingness indicator (for columns that had missing
values in training), then standardisation. Categorical columns: one-hot over the training
levels (the most frequent ``max_levels``, the rest pooled as "other"); a missing value is its
own level; a level never seen in training encodes as all zeros. Constant and empty columns are
dropped and reported.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.errors import DataError, short

__all__ = ["TablePreprocessor", "infer_column_kinds"]

MISSING = "(missing)"
OTHER = "(other)"


def infer_column_kinds(
    df: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    *,
    file: str | Path,
) -> tuple[list[str], list[str]]:
    """Split ``features`` into (numeric, categorical) columns.

    Declared categorical columns stay categorical. Other columns are numeric when they parse as
    numbers; a text column in which most values are numbers is an error (a typo in a numeric
    column), one in which most are not is treated as categorical.
    """
    numeric: list[str] = []
    cats: list[str] = []
    for col in features:
        s = df[col]
        if col in categorical:
            cats.append(col)
            continue
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
            continue
        present = s[s.notna() & (s.astype(str).str.strip() != "")]
        parsed = pd.to_numeric(present, errors="coerce")
        n_num = int(parsed.notna().sum())
        if len(present) and n_num >= 0.9 * len(present):
            pos = int(np.flatnonzero(s.index.isin(present.index[parsed.isna()]))[0])
            raise DataError(
                f"expected a number, got {short(s.iloc[pos])}",
                file=str(file),
                row=_row_number(s, pos),
                column=col,
                hint=f"fix the value, or list '{col}' in [data] categorical",
            )
        cats.append(col)
    return numeric, cats


@dataclass
class _NumericState:
    median: float
    mean: float
    std: float
    indicator: bool


class TablePreprocessor:
    """Turn table rows into a float32 feature matrix (scikit-learn style: ``fit`` then
    ``transform``; learned state ends in ``_``).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"age": [50, None, 70], "sex": ["F", "M", "F"]})
    >>> pre = TablePreprocessor(numeric=["age"], categorical=["sex"]).fit(df)
    >>> pre.feature_names_
    ['age', 'age_missing', 'sex=F', 'sex=M']
    >>> X, errors = pre.transform(pd.DataFrame({"age": [60], "sex": ["X"]}))
    >>> X.round(2).tolist(), errors
    ([[0.0, 0.0, 0.0, 0.0]], {})
    """

    def __init__(self, numeric: list[str], categorical: list[str], max_levels: int = 30) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.max_levels = max_levels

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, file: str | Path = "<data>") -> TablePreprocessor:
        self.numeric_: dict[str, _NumericState] = {}
        self.levels_: dict[str, list[str]] = {}
        self.dropped_: dict[str, str] = {}
        for col in self.numeric:
            values = _as_float(df[col], file, col, raise_on_error=True)[0]
            finite = values[np.isfinite(values)]
            if len(finite) == 0:
                self.dropped_[col] = "empty in the training data"
                continue
            has_missing = bool(len(finite) < len(values))
            std = float(finite.std())
            if std == 0.0 and not has_missing:
                self.dropped_[col] = "constant in the training data"
                continue
            self.numeric_[col] = _NumericState(
                median=float(np.median(finite)),
                mean=float(finite.mean()),
                std=std if std > 0 else 1.0,
                indicator=has_missing,
            )
        for col in self.categorical:
            labels = _as_labels(df[col])
            counts = labels.value_counts()
            if len(counts) <= 1:
                self.dropped_[col] = (
                    "empty in the training data" if labels.eq(MISSING).all()
                    else "constant in the training data"
                )
                continue
            levels = counts.index[: self.max_levels].tolist()
            if len(counts) > self.max_levels:
                levels.append(OTHER)
            self.levels_[col] = sorted(levels)
        self.feature_names_ = self._names()
        if not self.feature_names_:
            raise DataError(
                "no usable feature columns (all are constant or empty)",
                file=str(file),
                hint="check [data] features",
            )
        return self

    def _names(self) -> list[str]:
        names = []
        for col, st in self.numeric_.items():
            names.append(col)
            if st.indicator:
                names.append(f"{col}_missing")
        for col, levels in self.levels_.items():
            names.extend(f"{col}={lv}" for lv in levels)
        return names

    @property
    def warnings_(self) -> list[str]:
        return [f"column '{c}' dropped: {why}" for c, why in self.dropped_.items()]

    # -- transforming ------------------------------------------------------------------------
    def transform(
        self, df: pd.DataFrame, file: str | Path = "<data>"
    ) -> tuple[np.ndarray, dict[int, str]]:
        """Features for every row, and ``{row position: message}`` for rows that cannot be used.

        Rows with errors get zeros in ``X``; callers must not use them.
        """
        n = len(df)
        blocks: list[np.ndarray] = []
        errors: dict[int, str] = {}
        small = n <= _FAST_ROWS  # few rows (a server request): plain Python beats pandas
        for col, st in self.numeric_.items():
            fast = _fast_float(df[col]) if small else None
            if fast is not None:
                values, bad = fast, {}
            else:
                values, bad = _as_float(df[col], file, col, raise_on_error=False)
            for pos, msg in bad.items():
                errors.setdefault(pos, msg)
            missing = ~np.isfinite(values)
            filled = np.where(missing, st.median, values)
            blocks.append(((filled - st.mean) / st.std)[:, None])
            if st.indicator:
                blocks.append(missing.astype(np.float64)[:, None])
        for col, levels in self.levels_.items():
            labels = (_fast_labels(df[col]) if small
                      else _as_labels(df[col]).to_numpy(dtype=object))
            if OTHER in levels:
                known = set(levels)
                labels = np.array([v if v in known else OTHER for v in labels], dtype=object)
            onehot = (labels[:, None] == np.asarray(levels, dtype=object)[None, :])
            blocks.append(onehot.astype(np.float64))
        X = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
        if errors:
            X[list(errors)] = 0.0
        return X.astype(np.float32), errors

    # -- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "max_levels": self.max_levels,
            "numeric_state": {c: vars(s) for c, s in self.numeric_.items()},
            "levels": self.levels_,
            "dropped": self.dropped_,
            "feature_names": self.feature_names_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TablePreprocessor:
        pre = cls(d["numeric"], d["categorical"], d["max_levels"])
        pre.numeric_ = {c: _NumericState(**s) for c, s in d["numeric_state"].items()}
        pre.levels_ = {c: list(v) for c, v in d["levels"].items()}
        pre.dropped_ = dict(d["dropped"])
        pre.feature_names_ = list(d["feature_names"])
        return pre

    @property
    def input_columns(self) -> list[str]:
        """Columns a prediction input must have."""
        return [*self.numeric_, *self.levels_]


_BOOL_TEXT = {"True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0}


def _as_float(
    s: pd.Series, file: str | Path, col: str, *, raise_on_error: bool
) -> tuple[np.ndarray, dict[int, str]]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy(), {}
    if s.dtype == object:
        # map, not replace: replace downcasts object columns (a FutureWarning in pandas 2.x)
        s = s.map(lambda v: _BOOL_TEXT.get(v, v) if isinstance(v, str) else v)
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    blank = s.isna().to_numpy() | (s.astype(str).str.strip() == "").to_numpy()
    bad_pos = np.flatnonzero(np.isnan(values) & ~blank)
    inf_pos = np.flatnonzero(np.isinf(values))
    errors: dict[int, str] = {}
    for pos in bad_pos:
        errors[int(pos)] = f"column '{col}': expected a number, got {short(s.iloc[pos])}"
    for pos in inf_pos:
        errors.setdefault(int(pos), f"column '{col}': infinite value")
    if errors and raise_on_error:
        pos = min(errors)
        raise DataError(
            errors[pos].split(": ", 1)[1],
            file=str(file),
            row=_row_number(s, pos),
            column=col,
            hint=f"fix the value, or list '{col}' in [data] categorical",
        )
    values[list(errors)] = np.nan
    return values, errors


def _row_number(s: pd.Series, pos: int) -> int:
    """The 1-based row in the source file: frames split from a file keep its row index."""
    label = s.index[pos]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else pos + 1


# -- the same conversions cell by cell, for a few rows (pandas' per-call overhead dominates
# there); results equal _as_float / _as_labels (tests/unit/test_serve_units.py checks this)
_FAST_ROWS = 64
_PLAIN_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_INT_LIKE = re.compile(r"^(-?\d+)\.0+$")


def _fast_float(s: pd.Series) -> np.ndarray | None:
    """Floats (NaN for blanks) when every cell is a plain number or blank; None otherwise
    (then :func:`_as_float` handles the column and reports bad cells)."""
    out = np.empty(len(s), dtype=np.float64)
    for i, v in enumerate(s.tolist()):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
            out[i] = float(v)
        elif isinstance(v, str):
            if not v.strip():
                out[i] = np.nan
            elif _PLAIN_NUMBER.match(v):
                out[i] = float(v)
            else:
                return None
        else:
            return None
    if np.isinf(out).any():
        return None
    return out


def _fast_labels(s: pd.Series) -> np.ndarray:
    out = []
    for v in s.tolist():
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            out.append(MISSING)
            continue
        t = str(v).strip()
        if not t:
            out.append(MISSING)
            continue
        m = _INT_LIKE.match(t)
        out.append(m.group(1) if m else t)
    return np.array(out, dtype=object)


def _as_labels(s: pd.Series) -> pd.Series:
    out = s.astype(object).where(s.notna(), MISSING).astype(str).str.strip()
    out = out.where(out != "", MISSING)
    # 1 and 1.0 are the same level
    return out.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
