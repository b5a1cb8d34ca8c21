"""A run on given splits: :func:`run_split` (fit, score, save, report, encrypt), which
:func:`healthnn.pipeline.train` calls once and cross-validation, out-of-fold outputs,
learning curves and tuning call on splits of their own (:func:`run_at`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthnn.bundle import Bundle, save_bundle
from healthnn.bundle_files import sealing_key, staged_bundle
from healthnn.checks.sample_size import check_task, warning
from healthnn.config import Config
from healthnn.pipeline.common import Log, check_single_process, new_task, quiet, stderr
from healthnn.pipeline.data import Labelled
from healthnn.pipeline.fit import (
    EpochCallback,
    Fitted,
    encode_splits,
    finish_fit,
    fit_models,
    fit_preprocessing,
    remove_checkpoints,
)
from healthnn.pipeline.manifest import data_infos, run_key, split_summary, train_manifest
from healthnn.pipeline.score import Scored, score_splits
from healthnn.pipeline.split import SPLITS, Splits, splits_at
from healthnn.report import write_train_report

__all__ = ["run_split", "run_at", "Run"]


@dataclass
class Run:
    """A finished run: its task (fitted), splits, model, scores and saved bundle."""

    task: Any
    splits: Splits
    fitted: Fitted
    scored: Scored
    bundle: Bundle


def run_split(config: Config, task: Any, splits: Splits, out: Path, *, resume: bool = False,
              log: Log = stderr, encrypt_with: bytes | None = None,
              on_epoch: EpochCallback | None = None) -> Run | None:
    """Fit on ``splits['train']`` (validated on ``val``), score, save the bundle to ``out``,
    write its report and (with ``encrypt_with``) encrypt it. ``on_epoch(epoch, record)``
    runs after every epoch and may raise to stop (Optuna pruning). None in the non-main
    processes of a distributed run."""
    from healthnn.training.distributed import cleanup, is_main

    started = time.time()
    encrypt_with = sealing_key(encrypt_with)  # inside train --encrypt: nested runs too
    if config.eval.operating_point_folds:
        check_single_process(config)
    log = log if is_main() else quiet
    notes = fit_preprocessing(task, splits, log)
    size = sample_size(task, splits["train"].y, len(splits["train"].df), notes, log)
    encoded = encode_splits(task, splits)
    log("rows: " + ", ".join(f"{k} {split_summary(task, splits[k].y)['rows']}" for k in SPLITS))
    out.mkdir(parents=True, exist_ok=True)
    infos = data_infos(task, splits)
    fitted = fit_models(config, task, splits, encoded, out, run_key=run_key(config, infos),
                        resume=resume, log=log, on_epoch=on_epoch, key=encrypt_with)
    if not is_main():  # workers are done; the main process evaluates and writes the bundle
        cleanup()
        return None
    finish_fit(config, task, fitted, encoded)
    scored = score_splits(config, task, fitted, splits, encoded, out, log=log, runner=run_at)
    curve = _learning_curve(config, splits, scored, out, log)
    manifest = train_manifest(config, task, splits, infos, fitted, scored,
                              notes=notes + fitted.notes, started=started, curve=curve)
    if size is not None:
        manifest["sample_size"] = size
    if scored.domain is not None:
        manifest["domain"] = scored.domain
    # built in a private staging folder (sealed as written with a key), moved into place
    with staged_bundle(out, encrypt_with) as stage:
        bundle = save_bundle(stage, config=config, task=task, model=fitted.model,
                             metrics=scored.metrics, manifest=manifest,
                             predictions=scored.predictions, conformal=scored.conformal,
                             key=encrypt_with)
        write_train_report(bundle, frames=splits.frames(), outputs=scored.outputs, log=log)
    bundle.path = out
    remove_checkpoints(out, len(fitted.members))
    cleanup()
    return Run(task, splits, fitted, scored, bundle)


def run_at(config: Config, data: Labelled, idx: dict[str, Any], out: Path, *,
           test: Labelled | None = None, log: Log = quiet,
           on_epoch: EpochCallback | None = None) -> Run:
    """A fresh task fitted and scored on the rows of ``data`` at ``idx`` (``train``, ``val``
    and ``test``, or the rows of ``test``), saved as a bundle in ``out``: the runs of
    cross-validation, out-of-fold outputs, learning curves, tuning and benchmarks."""
    task = new_task(config)
    run = run_split(config, task, splits_at(config, task, data, idx, test=test), Path(out),
                    log=log, on_epoch=on_epoch)
    if run is None:  # pragma: no cover - resampling runs in one process
        raise RuntimeError("resampling runs in the main process")
    return run


def sample_size(task: Any, y_train: dict[str, Any], rows: int, notes: list[str], log: Log
                ) -> dict[str, Any] | None:
    """Riley et al.'s minimum sample size of the training split (before fitting the model);
    a warning in the log and the notes when the training rows are fewer."""
    size = check_task(task, y_train, rows)
    line = warning(size) if size is not None else None
    if line:
        log(f"warning: {line}")
        notes.append(line)
    return size


def _learning_curve(config: Config, splits: Splits, scored: Scored, out: Path, log: Log
                    ) -> dict[str, Any] | None:
    if not (config.report.learning_curve and config.report.enabled):
        return None
    from healthnn.pipeline.resample import learning_curve

    return learning_curve(config, splits, scored.metrics["test"], out=out / "learning_curve",
                          log=log, runner=run_at)
