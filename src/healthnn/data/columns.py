"""Checks on which table columns a task uses: ``[data] exclude`` and classification targets.

``[data] exclude = [...]`` leaves columns out of the features without listing all the others
in ``features``. Each name must be a column of the training file (a typo is an error with a
did-you-mean suggestion, as unknown config keys are) and may not also be the target, the id,
the group or a declared categorical feature.

A classification target that is really a continuous number (``target = "time"``: about 600
"classes", accuracy 0.000) is refused with a pointer to ``task = "regression"``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.errors import ConfigError, DataError

__all__ = ["check_exclude", "require_excluded", "check_class_target", "MAX_NUMERIC_CLASSES"]

MAX_NUMERIC_CLASSES = 30  # a numeric target with more distinct values may be continuous


def check_exclude(config: Any) -> None:
    """Refuse an ``exclude`` list that contradicts the rest of ``[data]``."""
    d = config.data
    roles = {"features": d.features or [], "categorical": d.categorical,
             "target": [c for c in (getattr(d, "target", None), getattr(d, "time", None),
                                    getattr(d, "event", None)) if c],
             "id": [d.id] if d.id else [], "group": [d.group] if d.group else []}
    for col in d.exclude:
        for role, cols in roles.items():
            if col in cols:
                raise ConfigError(f"'{col}' is both excluded and in [data] {role}",
                                  file=config.source, key="data.exclude",
                                  hint=f"remove it from one of exclude and {role}")


def require_excluded(df: pd.DataFrame, exclude: list[str], file: str | Path) -> None:
    """Every excluded name is a column of ``df`` (a misspelt name would otherwise leave the
    column in silently)."""
    for col in exclude:
        if col not in df.columns:
            close = difflib.get_close_matches(col, [str(c) for c in df.columns], n=1)
            hint = f"did you mean '{close[0]}'?" if close else "check [data] exclude"
            raise DataError("column listed in [data] exclude is not in the file", file=str(file),
                            column=col, hint=hint)


def check_class_target(labels: np.ndarray, *, column: str, file: str | Path,
                       limit: int = MAX_NUMERIC_CLASSES) -> None:
    """Refuse a numeric classification target with more than ``limit`` distinct values of
    which most occur once: a continuous measurement, not classes.

    >>> check_class_target(np.array(["0", "1", "1", "0"]), column="died", file="d.csv")
    >>> check_class_target(np.array([str(0.5 * i) for i in range(100)]), column="time",
    ...                    file="d.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    healthnn.errors.DataError: d.csv, column 'time': the target has 100 distinct numbers, 100 ...
    """
    values = pd.Series(labels)
    if len(values) == 0 or pd.to_numeric(values, errors="coerce").isna().any():
        return
    counts = values.value_counts()
    singles = int((counts == 1).sum())
    if len(counts) > limit and singles > len(counts) / 2:
        raise DataError(
            f"the target has {len(counts)} distinct numbers, {singles} of them on a single row: "
            "it looks continuous, and a classifier would learn one class per value",
            file=str(file), column=column,
            hint='use task = "regression" (or "survival" for a time to event); for numeric '
                 "class codes, make them text (e.g. 'c12')")
