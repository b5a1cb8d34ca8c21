"""Is ``healthnn evaluate`` scoring the data the model was trained on? (issue 19, item 5)

Metrics on the training rows are optimistic (C 0.723 on the training file against 0.654 on
the test split, in the issue). :func:`overlap_warnings` compares the evaluation data with what
the bundle records: its SHA-256 against the fingerprints of the training (and test) files,
and, for table tasks whose training file is still where it was and unchanged, its rows against
the training and validation rows of that file (the test split's rows, listed in
``predictions_test.csv``, do not count). Rows are compared in memory over the model's input
and target columns; nothing is stored or logged but counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["overlap_warnings", "row_overlap"]


def _normalised(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns as comparable values: numbers as floats (1 and 1.0 agree), text stripped."""
    out = {}
    for c in columns:
        num = pd.to_numeric(df[c], errors="coerce")
        if num.notna().sum() == df[c].notna().sum():
            out[c] = num.astype(float)
        else:
            out[c] = df[c].astype(str).str.strip()
    return pd.DataFrame(out)


def row_overlap(reference: pd.DataFrame, other: pd.DataFrame, columns: list[str]) -> int:
    """How many rows of ``other`` equal a row of ``reference`` in every one of ``columns``.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    >>> b = pd.DataFrame({"x": [1.0, 5.0, 3.0], "y": ["a", "b", "c "]})
    >>> row_overlap(a, b, ["x", "y"])
    2
    """
    seen = set(pd.util.hash_pandas_object(_normalised(reference, columns), index=False))
    mine = pd.util.hash_pandas_object(_normalised(other, columns), index=False)
    return int(mine.isin(seen).sum())


def _training_rows(bundle: Any, task: Any, info: dict[str, Any]) -> pd.DataFrame | None:
    """The training and validation rows of the bundle's training file, if it is unchanged."""
    from healthnn.data.tables import fingerprint

    path = Path(info.get("path", ""))
    if not path.is_file() or fingerprint(path) != info.get("sha256"):
        return None
    df = task.read(path).reset_index(drop=True)
    data = bundle.manifest.get("data", {})
    preds = Path(bundle.path) / "predictions_test.csv"
    if "test" not in data and preds.is_file():  # the test split was held out of this file
        test_rows = pd.read_csv(preds, usecols=["row"])["row"].to_numpy() - 1
        df = df.drop(index=np.intersect1d(test_rows, df.index))
    return df


def overlap_warnings(bundle: Any, df: pd.DataFrame, info: dict[str, Any]) -> list[str]:
    """Warnings when the evaluation data is, or shares rows with, the training data.

    Parameters
    ----------
    bundle : Bundle
        The loaded bundle (its manifest holds the training data's fingerprint).
    df : DataFrame
        The evaluation rows, as read by the bundle's task.
    info : dict
        The evaluation data's ``{"path", "sha256", ...}``.

    Returns
    -------
    list of str
        Empty when the data is new to the model.
    """
    data = bundle.manifest.get("data", {})
    train = data.get("train", {})
    if info.get("sha256") and info.get("sha256") == train.get("sha256"):
        held = ("" if "test" in data else " (with the test split held out of it: "
                "most of its rows trained or tuned the model)")
        return [f"this is the training data file (its SHA-256 equals the one recorded in the "
                f"bundle){held}; these metrics are optimistic, not a validation"]
    if info.get("sha256") and info.get("sha256") == data.get("test", {}).get("sha256"):
        return []  # the bundle's own test file: the same rows as its test metrics
    task = bundle.task
    cols_of = getattr(task, "report_columns", None)
    if not hasattr(task, "feature_columns") or cols_of is None:
        return []
    predictors = [*cols_of().get("numeric", []), *cols_of().get("categorical", [])]
    cols = [*predictors, *task.target_columns()]
    if not predictors or not set(cols) <= set(df.columns):  # images, notes: predictors are
        return []                                          # not table columns
    try:
        ref = _training_rows(bundle, task, train)
    except Exception:  # noqa: BLE001 - the training file is optional here; say nothing
        return []
    if ref is None or not set(cols) <= set(ref.columns):
        return []
    n = row_overlap(ref, df, cols)
    if not n:
        return []
    return [f"{n} of {len(df)} evaluation rows are identical to rows of the training or "
            "validation split (same predictors and outcome): metrics on them are optimistic"]
