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
    missing_values: list[str] | tuple[str, ...] = (),
) -> tuple[list[str], list[str]]:
    """Split ``features`` into (numeric, categorical) columns.

    Declared categorical columns stay categorical, and so do true/false columns. Other columns
    are numeric when they parse as numbers, cells equal to one of ``missing_values`` (``.``,
    ``NA``, ``-``, ...) counting as missing; a text column in which most values are numbers
    is an error (a typo in a numeric column), one in which most are not is treated as
    categorical.
    """
    numeric: list[str] = []
    cats: list[str] = []
    for col in features:
        s = df[col]
        if col in categorical or pd.api.types.is_bool_dtype(s):
            cats.append(col)
            continue
        if pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
            continue
        text = s.astype(str).str.strip()
        present = s[s.notna() & (text != "") & ~text.isin(list(missing_values))]
        if _boolean_cells(present).any():
            cats.append(col)
            continue
        parsed = pd.to_numeric(present, errors="coerce")
        n_num = int(parsed.notna().sum())
        if len(present) and n_num == len(present):  # numbers once placeholders are missing
            numeric.append(col)
            continue
        if len(present) and n_num >= 0.9 * len(present):
            pos = int(np.flatnonzero(s.index.isin(present.index[parsed.isna()]))[0])
            raise DataError(
                f"expected a number, got {short(s.iloc[pos])}",
                file=str(file),
                row=_row_number(s, pos),
                column=col,
                hint=f"fix the value, list it in [data] missing_values, or list '{col}' in "
                     "[data] categorical",
            )
        cats.append(col)
    return numeric, cats


def _boolean_cells(s: pd.Series) -> np.ndarray:
    """True where a cell is a boolean or the text true/false (any case)."""
    if pd.api.types.is_bool_dtype(s):
        return s.notna().to_numpy()
    if s.dtype != object:
        return np.zeros(len(s), dtype=bool)
    return np.array([isinstance(v, (bool, np.bool_))
                     or (isinstance(v, str) and v.strip().lower() in ("true", "false"))
                     for v in s.tolist()], dtype=bool)


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

    def __init__(self, numeric: list[str], categorical: list[str], max_levels: int = 30,
                 missing_values: list[str] | tuple[str, ...] = ()) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.max_levels = max_levels
        self.missing_values = list(missing_values)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, file: str | Path = "<data>") -> TablePreprocessor:
        self.numeric_: dict[str, _NumericState] = {}
        self.levels_: dict[str, list[str]] = {}
        self.dropped_: dict[str, str] = {}
        self.placeholders_: dict[str, dict[str, int]] = {}
        for col in self.numeric:
            counts = _placeholder_counts(df[col], self.missing_values)
            if counts:
                self.placeholders_[col] = counts
            values = _as_float(df[col], file, col, raise_on_error=True,
                               missing=self.missing_values)[0]
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
        held = [f"column '{c}': " + ", ".join(f"{n} cell(s) {v!r}" for v, n in counts.items())
                + " of the training rows read as missing (placeholders; [data] missing_values)"
                for c, counts in getattr(self, "placeholders_", {}).items()]
        return held + [f"column '{c}' dropped: {why}" for c, why in self.dropped_.items()]

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
            fast = _fast_float(df[col], self.missing_values) if small else None
            if fast is not None:
                values, bad = fast, {}
            else:
                values, bad = _as_float(df[col], file, col, raise_on_error=False,
                                        missing=self.missing_values)
            for pos, msg in bad.items():
                errors.setdefault(pos, msg)
            missing = ~np.isfinite(values)
            filled = np.where(missing, st.median, values)
            z = (filled - st.mean) / st.std
            for pos in np.flatnonzero(~(np.abs(z) <= _F32_MAX)):
                errors.setdefault(int(pos), f"column '{col}': value too large for the model "
                                  "(beyond the float32 range once standardised)")
            blocks.append(np.where(np.abs(z) <= _F32_MAX, z, 0.0)[:, None])
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
            "missing_values": self.missing_values,
            "numeric_state": {c: vars(s) for c, s in self.numeric_.items()},
            "levels": self.levels_,
            "dropped": self.dropped_,
            "feature_names": self.feature_names_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TablePreprocessor:
        # bundles from before missing_values read no placeholders, as they did then
        pre = cls(d["numeric"], d["categorical"], d["max_levels"], d.get("missing_values", []))
        pre.numeric_ = {c: _NumericState(**s) for c, s in d["numeric_state"].items()}
        pre.levels_ = {c: list(v) for c, v in d["levels"].items()}
        pre.dropped_ = dict(d["dropped"])
        pre.feature_names_ = list(d["feature_names"])
        return pre

    @property
    def input_columns(self) -> list[str]:
        """Columns a prediction input must have."""
        return [*self.numeric_, *self.levels_]


_F32_MAX = float(np.finfo(np.float32).max)  # 3.4e38: beyond it a model input is inf


def _placeholder_counts(s: pd.Series, missing: list[str]) -> dict[str, int]:
    """How many cells of ``s`` are each missing-value placeholder (blanks not counted)."""
    if not missing or s.dtype != object:
        return {}
    text = s[s.map(lambda v: isinstance(v, str))].str.strip()
    counts = text[text.isin([m for m in missing if m.strip()])].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _as_float(
    s: pd.Series, file: str | Path, col: str, *, raise_on_error: bool,
    missing: list[str] | tuple[str, ...] = (),
) -> tuple[np.ndarray, dict[int, str]]:
    """Numbers of a numeric column; blanks and ``missing`` placeholders are NaN (missing).
    A cell that is not a number, a true/false value, an infinite value or one beyond the
    float32 range is an error: raised (training) or returned per row position."""
    boolean = _boolean_cells(s)
    cells = s
    if s.dtype == object:
        text = s.map(lambda v: v.strip() if isinstance(v, str) else v)
        cells = text.mask(text.isin(list(missing)) | boolean) if missing or boolean.any() else s
    elif boolean.any():
        cells = pd.Series(np.nan, index=s.index)
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
    blank = cells.isna().to_numpy() | (cells.astype(str).str.strip() == "").to_numpy()
    errors: dict[int, str] = {}
    for pos in np.flatnonzero(boolean):
        errors[int(pos)] = f"column '{col}': expected a number, got a true/false value"
    for pos in np.flatnonzero(np.isnan(values) & ~blank):
        overflow = _overflows(s.iloc[pos])  # '1e400': a number pandas cannot hold
        errors.setdefault(int(pos), f"column '{col}': infinite value" if overflow
                          else f"column '{col}': expected a number, got {short(s.iloc[pos])}")
    for pos in np.flatnonzero(np.isinf(values)):
        errors.setdefault(int(pos), f"column '{col}': infinite value")
    for pos in np.flatnonzero(np.isfinite(values) & (np.abs(values) > _F32_MAX)):
        errors.setdefault(int(pos), f"column '{col}': value beyond the float32 range (3.4e38)")
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


def _overflows(v: object) -> bool:
    try:
        return isinstance(v, str) and np.isinf(float(v.strip()))
    except ValueError:
        return False


def _row_number(s: pd.Series, pos: int) -> int:
    """The 1-based row in the source file: frames split from a file keep its row index."""
    label = s.index[pos]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else pos + 1


# -- the same conversions cell by cell, for a few rows (pandas' per-call overhead dominates
# there); results equal _as_float / _as_labels (tests/unit/test_serve_units.py checks this)
_FAST_ROWS = 64
_PLAIN_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_INT_LIKE = re.compile(r"^(-?\d+)\.0+$")


def _fast_float(s: pd.Series, missing: list[str] | tuple[str, ...] = ()) -> np.ndarray | None:
    """Floats (NaN for blanks and ``missing`` placeholders) when every cell is a plain number,
    a blank or a placeholder; None otherwise (then :func:`_as_float` handles the column and
    reports bad cells)."""
    out = np.empty(len(s), dtype=np.float64)
    for i, v in enumerate(s.tolist()):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
            out[i] = float(v)
        elif isinstance(v, str):
            if not v.strip() or v.strip() in missing:
                out[i] = np.nan
            elif _PLAIN_NUMBER.match(v):
                out[i] = float(v)
            else:
                return None
        else:
            return None
    if (np.abs(out) > _F32_MAX).any():  # inf and values beyond float32: errors, via _as_float
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
