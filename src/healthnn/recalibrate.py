"""Site recalibration: ``healthnn recalibrate BUNDLE LOCAL_DATA --out NEW_BUNDLE`` (issue 22).

A model moved to a new hospital ranks patients about as well as at home but its risks are often
off: the case mix and the outcome rate differ. Recalibration keeps the network and updates only
how its outputs map to risks, fitted on the site's own labelled rows:

- classification: ``intercept`` (calibration-in-the-large: one offset on the logit, the mean
  risk matches the site's rate; binary), ``logistic`` (intercept and slope on the logit, Platt),
  or ``isotonic`` (a monotone map);
- survival (Cox models): ``baseline``, the baseline hazard re-estimated (Breslow) on the site's
  rows with the network's risk scores unchanged.

A part of the local rows (``holdout``, stratified) is kept out of the fit; the new bundle's
``recalibration/report.html`` shows calibration on it before and after, with bootstrap
intervals. The map is saved in the new bundle's manifest (with the local data's fingerprint
and the method) and applied by every prediction path; conformal sets calibrated on the
development data no longer hold and are left out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from healthnn.bundle import Bundle, load_bundle, recalibrated_outputs, save_bundle
from healthnn.errors import ConfigError, DataError
from healthnn.metrics.recalibration import fit_recalibration

__all__ = ["recalibrate", "recalibrated_outputs", "METHODS"]

METHODS = ("intercept", "logistic", "isotonic", "baseline")
_FIT = {"intercept": "intercept", "logistic": "platt", "isotonic": "isotonic"}


def _take(y: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[idx] for k, v in y.items()}


def _local_rows(b: Bundle, data: Path) -> tuple[Any, Any, dict[str, np.ndarray], Any, int]:
    from healthnn.pipeline.data import read_labelled

    task = b.task
    rows = read_labelled(task, Path(data), training=False)
    inputs, errors = task.encode(rows.df, rows.file)
    for pos in np.flatnonzero(~rows.ok):
        errors.setdefault(int(pos), "no observed outcome")
    for pos, msg in task.unknown_label_errors(rows.y).items():
        errors.setdefault(pos, msg)
    keep = np.array([i for i in range(len(rows.df)) if i not in errors], dtype=np.int64)
    if len(keep) < 20:
        raise DataError(f"only {len(keep)} usable labelled row(s); recalibration needs at "
                        "least 20", file=str(data), hint="give more local labelled rows")
    return rows, task.subset(inputs, keep), _take(rows.y, keep), keep, len(errors)


def _halves(task: Any, y: dict[str, np.ndarray], holdout: float, seed: int
            ) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    n = len(next(iter(y.values())))
    strata = task.strata(y)
    if strata is not None and np.bincount(np.asarray(strata, dtype=np.int64)).min() < 2:
        strata = None
    fit, held = train_test_split(np.arange(n), test_size=holdout, random_state=seed,
                                 stratify=strata)
    return np.sort(fit), np.sort(held)


def _check_outcome(task: Any, y: dict[str, np.ndarray], file: Path) -> None:
    strata = task.strata(y)
    if strata is not None and len(np.unique(strata)) < 2:
        raise DataError("the local rows have one outcome class (or no events)", file=str(file),
                        hint="recalibration needs both outcomes among the local rows")


def recalibrate(bundle: str | Path | Bundle, data: str | Path, out: str | Path, *,
                method: str | None = None, holdout: float = 0.3, seed: int = 0,
                key: bytes | None = None) -> dict[str, Any]:
    """Fit a site recalibration on ``data`` and write the recalibrated bundle to ``out``.

    Returns the record saved in the new bundle's manifest (``recalibration``), with the
    held-out metrics before and after.
    """
    from healthnn.data.tables import fingerprint_files

    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, key=key)
    task = b.task
    allowed = task.recalibration_methods
    method = method or (allowed[0] if allowed else None)
    if not allowed or method not in allowed:
        raise ConfigError(f"recalibration method {method!r} is not available for task "
                          f"{task.name!r}", key="--method",
                          hint=f"one of: {', '.join(allowed)}" if allowed else
                          "classification and Cox survival models can be recalibrated")
    if not 0.1 <= holdout <= 0.5:
        raise ConfigError("must be between 0.1 and 0.5", key="--holdout")
    rows, inputs, y, keep, n_bad = _local_rows(b, Path(data))
    _check_outcome(task, y, rows.file)
    fit, held = _halves(task, y, holdout, seed)
    outputs, _ = b.score_inputs(inputs)  # through any earlier recalibration of this bundle
    y_fit, y_held = _take(y, fit), _take(y, held)
    before = task.evaluate(outputs[held], y_held, seed=seed)
    maps = list(b.manifest.get("recalibration", {}).get("maps", []))
    if method == "baseline":
        task.after_fit(outputs[fit], task.target_tensors(y_fit))  # Breslow on the site's rows
        maps.append({"kind": "baseline", "method": method})
        after_out = outputs[held]
    else:
        codes, probs, _ = task.class_probabilities(outputs[fit], y_fit)
        state = fit_recalibration(_FIT[method], codes, probs)
        maps.append({"kind": "probabilities", "method": method, "state": state})
        after_out = recalibrated_outputs(maps[-1:], outputs[held])
    after = task.evaluate(after_out, y_held, seed=seed)
    record = {
        "maps": maps,
        "history": [*b.manifest.get("recalibration", {}).get("history", []), {
            "method": method, "data": {"path": str(Path(data).resolve()),
                                       "sha256": fingerprint_files([Path(data)],
                                                                   Path(data).parent)["sha256"]},
            "rows_fit": int(len(fit)), "rows_held_out": int(len(held)),
            "rows_unusable": int(n_bad), "seed": seed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}],
    }
    manifest = {**b.manifest, "recalibration": record,
                "notes": [*b.manifest.get("notes", []),
                          f"recalibrated ({method}) on {len(fit)} local rows; conformal sets "
                          "of the development data left out"]}
    metrics = {**b.metrics, "local_before_recalibration": before,
               "local_after_recalibration": after}
    new = save_bundle(Path(out), config=b.config, task=task, model=b.model, metrics=metrics,
                      manifest=manifest)
    _report(new, rows, keep[held], y_held, after_out, before, after, record)
    return {**record, "before": before, "after": after}


def _report(new: Bundle, rows: Any, positions: np.ndarray, y: dict[str, np.ndarray],
            outputs: torch.Tensor, before: dict, after: dict, record: dict) -> None:
    from healthnn.bundle import write_json
    from healthnn.report import write_evaluation_report

    folder = new.path / "recalibration"
    folder.mkdir(exist_ok=True)
    metrics = {"before_recalibration": before, "test": after}
    write_json(folder / "metrics.json", metrics)
    last = record["history"][-1]
    evaluation = {"bundle": str(new.path), "data": last["data"],
                  "rows_evaluated": int(len(positions)), "rows_with_errors": 0,
                  "recalibration": {k: last[k] for k in ("method", "rows_fit",
                                                         "rows_held_out")}}
    write_evaluation_report(folder, new, df=rows.df.iloc[positions], y=y, outputs=outputs,
                            metrics=metrics,
                            evaluation=evaluation, file=rows.file)
