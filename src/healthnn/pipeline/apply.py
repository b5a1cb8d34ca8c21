"""Using a trained bundle: evaluate it on labelled rows, predict, explain."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthnn.bundle import Bundle, load_bundle, write_json
from healthnn.checks.overlap import overlap_warnings
from healthnn.data.tables import write_table
from healthnn.errors import DataError
from healthnn.io import refuse_overwriting_input
from healthnn.metrics.estimable import evaluate_or_not_estimable
from healthnn.pipeline.data import read_labelled, take
from healthnn.pipeline.manifest import data_info
from healthnn.pipeline.score import conformal_metrics, labelled_table
from healthnn.report import write_evaluation_report

__all__ = ["evaluate", "predict", "predict_file", "explain", "EvaluationResult", "open_bundle"]


@dataclass
class EvaluationResult:
    """Metrics of an evaluation, its row counts and its prediction table."""

    metrics: dict[str, Any]
    n_rows: int
    n_errors: int
    predictions: pd.DataFrame


def open_bundle(bundle: str | Path | Bundle, key: bytes | None = None) -> Bundle:
    """``bundle`` itself, or the bundle loaded from that directory."""
    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle, key=key)


def evaluate(
    bundle: str | Path | Bundle, data: str | Path, out: str | Path, *, key: bytes | None = None,
    outcomes: str | Path | None = None,
) -> EvaluationResult:
    """Evaluate a trained bundle on new labelled data; write ``metrics.json`` and
    ``predictions.csv`` to ``out``. Rows that cannot be used are reported, not dropped silently.
    ``outcomes``: the labels of ``data`` where they live apart from it (event streams: an
    outcome table, one row per stay), instead of the training config's.
    """
    b = open_bundle(bundle, key)
    task, seed = b.task, b.config.split.seed
    if outcomes is not None:
        task.use_label_file(Path(outcomes))
    rows = read_labelled(task, Path(data), training=False)
    df, y = rows.df, rows.y
    inputs, errors = task.encode(df, rows.file)
    for pos in np.flatnonzero(~rows.ok):
        errors.setdefault(int(pos), "no observed outcome in this row")
    for pos, msg in task.unknown_label_errors(y).items():
        errors.setdefault(pos, msg)
    good = np.array([i not in errors for i in range(len(df))])
    if not good.any():
        first = min(errors)
        raise DataError(f"no row can be evaluated; first problem: {errors[first]}",
                        file=str(rows.file), row=first + 1)
    keep = np.flatnonzero(good)
    outputs, preds = b.score_inputs(task.subset(inputs, keep))
    y_good = take(y, keep)
    metrics = {"test": evaluate_or_not_estimable(task.evaluate, outputs, y_good, seed=seed)}
    # the baselines saved in the bundle ([baseline] models) on the same rows, paired
    metrics.update(task.baseline_metrics({"test": (df.iloc[keep], y_good, rows.file)},
                                         seed=seed, outputs=outputs))
    if b.conformal and task.conformal_outputs(outputs[:0]) is not None:
        metrics["test"].update(conformal_metrics(task, b.conformal, outputs, y_good, seed=seed))
    preds.index = keep
    table = labelled_table(task, df, rows.rows, y, preds.reindex(range(len(df))))
    table["error"] = [errors.get(i, "") for i in range(len(df))]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    write_table(table, out / "predictions.csv")
    evaluation = {
        "bundle": str(b.path), "data": data_info(task, rows),
        "rows_evaluated": int(good.sum()), "rows_with_errors": int((~good).sum()),
    }
    evaluation["warnings"] = overlap_warnings(b, df, evaluation["data"])  # healthnn.checks
    for warning in evaluation["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    write_json(out / "evaluation.json", evaluation)
    write_evaluation_report(out, b, df=df.iloc[keep], y=y_good, outputs=outputs,
                            metrics=metrics, evaluation=evaluation, file=rows.file)
    return EvaluationResult(metrics, len(df), int((~good).sum()), table)


def predict(
    bundle: str | Path | Bundle, df: pd.DataFrame, *, key: bytes | None = None
) -> pd.DataFrame:
    """Prediction columns (and ``error``) added to the rows of ``df``."""
    return open_bundle(bundle, key).predict(df)


def predict_file(
    bundle: str | Path | Bundle, input: str | Path, out: str | Path, *, key: bytes | None = None,
    workers: int = 1,
) -> tuple[int, int]:
    """Predict every row of a CSV/Parquet file into ``out``; returns (rows, rows with errors).

    ``workers`` > 1 parses and featurises large molecule libraries in that many processes
    (tasks that declare ``Task.parallel_inputs``; the others read in one process).
    """
    refuse_overwriting_input(input, out)  # issue 23: the input is never replaced
    b = open_bundle(bundle, key)
    if b.task.parallel_inputs:
        b.task.workers = workers
    df = b.task.read_inputs(Path(input))
    result = b.predict(df, file=input)
    b.task.write_predictions(result, Path(out))  # NER: span JSONL
    return len(result), int((result["error"] != "").sum())


def explain(
    bundle: str | Path | Bundle,
    input: str | Path,
    out: str | Path,
    *,
    target_class: str | None = None,
    limit: int = 50,
    key: bytes | None = None,
    image_format: str | None = None,
) -> list[Path]:
    """Write explanations (heatmaps, attributions) for the first ``limit`` inputs to ``out``.

    What an explanation is depends on the task (Grad-CAM for images, atom attributions for
    molecules, ...); each task implements :meth:`Task.explain`. ``image_format`` (``"svg"`` or
    ``"png"``) chooses how molecule models draw their atom attributions (tasks that declare
    ``Task.explanation_formats``).
    """
    b = open_bundle(bundle, key)
    if image_format is not None:
        if image_format not in b.task.explanation_formats:
            raise DataError(f"--format {image_format} applies to molecule models only",
                            hint="leave out --format: this model's explanations have one format")
        b.task.image_format = image_format
    df = b.task.read_inputs(Path(input))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return b.task.explain(b.model, df.head(limit), out, file=Path(input),
                          target_class=target_class)
