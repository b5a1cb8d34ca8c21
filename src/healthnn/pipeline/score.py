"""Stage 4: scoring. The validation outputs choose the operating point and calibrate the
conformal sets; the test rows are scored through an in-memory :class:`~healthnn.bundle.Bundle`,
so a training run, ``evaluate``, ``predict`` and the server build prediction columns one way
(:meth:`Bundle.score_inputs`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from healthnn.bundle import Bundle
from healthnn.config import Config
from healthnn.metrics.estimable import evaluate_or_not_estimable
from healthnn.pipeline.fit import Encoded, Fitted
from healthnn.pipeline.split import Splits

__all__ = ["Scored", "score_splits", "fit_conformal", "conformal_metrics", "labelled_table"]

Log = Callable[[str], None]
CPU = torch.device("cpu")


@dataclass
class Scored:
    """What scoring gave: metrics per split (and baselines), the raw ``outputs`` of the
    validation and test rows, the test prediction table, the conformal calibration and the
    operating point (None when not used)."""

    metrics: dict[str, Any]
    outputs: dict[str, torch.Tensor]
    predictions: pd.DataFrame
    conformal: dict[str, Any] | None
    operating: dict[str, Any] | None
    domain: dict[str, Any] | None = None  # the training reference of healthnn.domain


def domain_reference(task: Any, encoded: Encoded) -> dict[str, Any] | None:
    """The training reference of out-of-domain scores (:mod:`healthnn.domain`), for tasks whose
    encoded inputs are feature columns; its threshold chosen on the validation rows."""
    train, val = (task.domain_features(encoded[s][0]) for s in ("train", "val"))
    if train is None or val is None or len(train) < 10:
        return None
    from healthnn.domain import fit_reference

    names = list(task.feature_names or [f"x{i}" for i in range(train.shape[1])])
    return fit_reference(train, val, names)


def score_splits(config: Config, task: Any, fitted: Fitted, splits: Splits, encoded: Encoded,
                 out: Path, *, log: Log, runner: Callable[..., Any]) -> Scored:
    """Validation then test: the operating point and conformal calibration are fixed on the
    validation rows (or out-of-fold outputs, models trained by ``runner``, see
    :func:`healthnn.pipeline.resample.out_of_fold_outputs`) before any test output is
    looked at."""
    domain = domain_reference(task, encoded)
    bundle = Bundle(out, config, task, fitted.model, manifest={"domain": domain} if domain else {})
    seed = config.split.seed
    val_out = bundle.outputs(encoded["val"][0], batch_size=4096, device=CPU)
    metrics: dict[str, Any] = {"val": evaluate_or_not_estimable(task.evaluate, val_out,
                                                                 splits["val"].y, seed=seed)}
    operating = choose_operating_point(config, task, splits, val_out, out, log=log,
                                       runner=runner)
    bundle.conformal = fit_conformal(task, config, val_out, splits["val"].y)
    test = splits["test"]
    test_out, preds = bundle.score_inputs(encoded["test"][0], batch_size=4096, device=CPU)
    # a metric the rows cannot give is reported as not estimable; the model is kept
    metrics["test"] = evaluate_or_not_estimable(task.evaluate, test_out, test.y, seed=seed)
    if bundle.conformal is not None:  # empirical coverage on the test rows
        metrics["test"].update(conformal_metrics(task, bundle.conformal, test_out, test.y,
                                                 seed=seed))
    table = labelled_table(task, test.df, test.rows, test.y, preds)
    metrics.update(task.baseline_metrics(splits.frames(), seed=seed,  # [baseline] models
                                         outputs=test_out, log=log))
    privacy = fitted.result.privacy
    if privacy is not None:
        eps = privacy["epsilon_spent"]
        metrics["privacy"] = {"epsilon": {"value": eps, "ci_low": eps, "ci_high": eps}}
        log(f"differential privacy: spent epsilon {eps:.3f} of {privacy['epsilon_budget']:g}"
            f" (delta {privacy['delta']:g})")
    return Scored(metrics, {"val": val_out, "test": test_out}, table, bundle.conformal,
                  operating, domain)


def choose_operating_point(config: Config, task: Any, splits: Splits, val_out: torch.Tensor,
                           out: Path, *, log: Log, runner: Callable[..., Any]
                           ) -> dict[str, Any] | None:
    """``[eval] operating_point``: on the validation outputs, or with
    ``operating_point_folds`` on out-of-fold outputs over the training and validation rows."""
    if not (config.eval.operating_point_folds and config.eval.operating_point != "none"):
        return task.fit_operating_point(val_out, splits["val"].y, splits["train"].y)
    from healthnn.pipeline.resample import out_of_fold_outputs

    # rows kept together by K-fold CV (a patient's rows, copies of one molecule)
    rows = np.concatenate([splits.idx["train"], splits.idx["val"]])
    oof_out, oof_y = out_of_fold_outputs(config, splits.data, rows, splits.strata,
                                         task.fold_groups(splits.data.df),
                                         out / "_operating_point_folds", log=log,
                                         runner=runner)
    operating = task.fit_operating_point(oof_out, oof_y, splits["train"].y)
    if operating is not None:
        operating["chosen_on"] = (f"out-of-fold outputs of {config.eval.operating_point_folds}"
                                  " extra models over the training and validation rows")
    return operating


def labelled_table(task: Any, df: pd.DataFrame, rows: np.ndarray, y: dict[str, np.ndarray],
                   preds: pd.DataFrame) -> pd.DataFrame:
    """The prediction file of labelled rows: ``row`` (the file's 1-based row number), the
    task's identifier columns, the observed outcome, then the prediction columns."""
    ids = task.row_ids(df).reset_index(drop=True)
    ids.insert(0, "row", rows)
    return pd.concat([ids, task.label_frame(y).reset_index(drop=True),
                      preds.reset_index(drop=True)], axis=1)


def fit_conformal(task: Any, config: Config, outputs: torch.Tensor,
                  y: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """Split-conformal calibration on the validation outputs (None: off, or not available
    for this task)."""
    from healthnn.metrics.conformal import fit_conformal as fit

    alpha = config.eval.conformal_alpha
    got = task.conformal_outputs(outputs) if alpha > 0 else None
    if got is None:
        return None
    kind, predicted, names = got
    return fit(kind, predicted, task.conformal_targets(y), names, alpha=alpha,
               method=config.eval.conformal_method)


def conformal_metrics(task: Any, state: dict[str, Any], outputs: torch.Tensor,
                      y: dict[str, np.ndarray], *, seed: int) -> dict[str, dict[str, float]]:
    """Empirical coverage and mean set size (classes) or interval width on labelled rows,
    with bootstrap intervals."""
    from healthnn.metrics.conformal import conformal_coverage

    kind, predicted, _ = task.conformal_outputs(outputs)
    covered, size = conformal_coverage(state, predicted, task.conformal_targets(y))
    keep = np.isfinite(covered)
    if not keep.any():
        return {}
    size_name = "conformal_set_size" if kind == "classes" else "conformal_width"

    def fn(c: np.ndarray, s: np.ndarray) -> dict[str, float]:
        return {"conformal_coverage": float(c.mean()), size_name: float(s.mean())}

    return task.bootstrap(fn, [covered[keep], size[keep]], seed=seed)
