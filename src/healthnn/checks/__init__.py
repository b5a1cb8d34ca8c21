"""Checks of the data before a model is trained (sample size: :mod:`healthnn.checks.sample_size`;
leakage, issue 19).

:func:`leakage_findings` runs :func:`healthnn.checks.leakage.leakage_check` on the training
split of a table task as ``[data] leakage`` says (``"warn"``, the default: report and train;
``"error"``: refuse to train; ``"off"``), and :func:`leakage_notes` turns the findings into
the lines the command line prints and the bundle's manifest keeps.
"""

from __future__ import annotations

from typing import Any

from healthnn.checks.leakage import duplicate_rows, format_finding, leakage_check
from healthnn.errors import DataError

__all__ = ["leakage_findings", "leakage_notes", "leakage_section"]

_KINDS = {"classification": "classification", "regression": "regression",
          "survival": "survival"}


def leakage_findings(config: Any, task: Any, frames: dict[str, tuple]) -> list[dict[str, Any]]:
    """Findings of the leakage check on ``frames["train"]`` (and duplicates of its rows in
    the other splits); empty for tasks other than tables and with ``[data] leakage = "off"``.

    ``frames`` maps split names to ``(rows, labels, file)`` as in :func:`healthnn.train`.
    """
    mode = getattr(config.data, "leakage", "off")
    kind = _KINDS.get(getattr(task, "name", ""))
    if mode == "off" or kind is None or not hasattr(task, "feature_columns"):
        return []
    df, y, _ = frames["train"]
    d = config.data
    columns = [c for c in task.feature_columns(df) if c in df.columns]
    if d.features is None:  # mostly-distinct text columns are left out as identifiers anyway
        columns = [c for c in columns if not _dropped_text_id(df[c], len(df))]
    if kind == "survival":
        found = leakage_check(df, None, kind=kind, columns=columns, time=y[d.time],
                              event=y[d.event])
    else:
        found = leakage_check(df, y[d.target], kind=kind, columns=columns)
    cols = [*columns, *task.target_columns()]
    others = {name: f[0][cols] for name, f in frames.items() if name != "train"
              and set(cols) <= set(f[0].columns)}
    return found + duplicate_rows(df[cols], others)


def _dropped_text_id(col: Any, n: int) -> bool:
    import pandas as pd

    text = not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    return text and col.nunique(dropna=True) > max(30, 0.5 * n)


def leakage_notes(config: Any, task: Any, frames: dict[str, tuple]) -> list[str]:
    """The leakage findings as notes (``possible leakage: ...``); with ``[data] leakage =
    "error"`` a :class:`~healthnn.errors.DataError` naming them instead."""
    found = leakage_findings(config, task, frames)
    if found and config.data.leakage == "error":
        raise DataError("possible leakage: " + "; ".join(f["text"] for f in found),
                        file=str(frames["train"][2]), hint="remove these columns (or rows), or "
                        "set [data] leakage = \"warn\" to train anyway")
    return [format_finding(f) + ("" if f["kind"] == "duplicates" else
                                 "; check it is known before the prediction is made")
            for f in found]


def leakage_section(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The report section of the leakage check (:mod:`healthnn.report.sections` format).

    >>> leakage_section([])["text"][:58]
    'No column of the training split predicts the outcome on it'
    """
    from healthnn.checks.leakage import THRESHOLD

    if not found:
        text = ("No column of the training split predicts the outcome on its own "
                f"(single-column AUROC or C-index below {THRESHOLD:g}), looks like an "
                "identifier or equals a transformation of the target, and no row of the "
                "other splits repeats a training row.")
        return {"id": "data-checks", "title": "Data checks (leakage)", "text": text}
    rows = [[f["kind"], f["column"], f["text"]] for f in found]
    return {"id": "data-checks", "title": "Data checks (leakage)",
            "text": ("Checked on the training split before training. A predictor that gives "
                     "the outcome away (recorded after it, or because of it) makes the test "
                     "metrics look better than the model will be in use."),
            "tables": [{"title": "", "columns": ["check", "column / split", "finding"],
                        "rows": rows}],
            "notes": ["[data] leakage = \"error\" refuses to train on such data; "
                      "\"off\" skips the check."]}
