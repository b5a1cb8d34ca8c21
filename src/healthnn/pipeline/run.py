"""A training run: :func:`train` (read, split, then :func:`run_split`) and :func:`run_split`
(fit, score, save, report, encrypt), which cross-validation, out-of-fold outputs, learning
curves and tuning call on splits of their own."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthnn.bundle import Bundle, save_bundle
from healthnn.config import Config, load_config
from healthnn.errors import ConfigError
from healthnn.pipeline.data import Labelled, read_training
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
from healthnn.pipeline.split import SPLITS, Splits, make_splits
from healthnn.report import write_train_report
from healthnn.tasks import get_task_class
from healthnn.training import seed_everything

__all__ = ["train", "run_split", "Run", "new_task", "as_config"]

Log = Callable[[str], None]


def stderr(msg: str) -> None:
    """Log to standard error (the default of every run)."""
    print(msg, file=sys.stderr)


def quiet(msg: str) -> None:
    """Log nothing (the inner runs of resampling and tuning)."""


@dataclass
class Run:
    """A finished run: its task (fitted), splits, model, scores and saved bundle."""

    task: Any
    splits: Splits
    fitted: Fitted
    scored: Scored
    bundle: Bundle


def as_config(config: Config | str | Path | dict[str, Any]) -> Config:
    """A :class:`Config` from a config, a TOML path or a dict."""
    return config if isinstance(config, Config) else load_config(config)


def new_task(config: Config) -> Any:
    """An unfitted task for ``config``, with the training seed set."""
    task = get_task_class(config.task)(config)
    seed_everything(config.train.seed)
    return task


def train(
    config: Config | str | Path | dict[str, Any],
    out: str | Path,
    *,
    resume: bool = False,
    log: Log | None = None,
    encrypt_with: bytes | None = None,
) -> Bundle | dict[str, Any] | None:
    """Train a model as the config says and write a bundle to ``out``.

    With ``[split] method = "kfold"`` this cross-validates instead (one bundle per fold in
    ``out/fold_<k>``) and returns the summary written to ``out/cv.json``. Under torchrun
    (``healthnn train --nproc N``) every process calls this; the main process returns the
    bundle, the others None. With ``encrypt_with`` (a key from
    :func:`healthnn.privacy.keys.load_key`) the bundle is encrypted at rest.
    """
    config, log = as_config(config), log or stderr
    if config.split.method == "kfold":
        from healthnn.pipeline.resample import cross_validate

        _kfold_only(config, resume=resume, encrypt_with=encrypt_with)
        return cross_validate(config, out, log=log)
    from healthnn.training.distributed import init_from_env

    init_from_env()  # a no-op unless launched by torchrun (healthnn train --nproc N)
    task = new_task(config)
    data, test = read_training(config, task)
    splits = make_splits(config, task, data, test)
    run = run_split(config, task, splits, Path(out), resume=resume, log=log,
                    encrypt_with=encrypt_with)
    return None if run is None else run.bundle


def run_split(config: Config, task: Any, splits: Splits, out: Path, *, resume: bool = False,
              log: Log = stderr, encrypt_with: bytes | None = None,
              on_epoch: EpochCallback | None = None) -> Run | None:
    """Fit on ``splits['train']`` (validated on ``val``), score, save the bundle to ``out``,
    write its report and (with ``encrypt_with``) encrypt it. ``on_epoch(epoch, record)``
    runs after every epoch and may raise to stop (Optuna pruning). None in the non-main
    processes of a distributed run."""
    from healthnn.training.distributed import cleanup, is_main

    started = time.time()
    if config.eval.operating_point_folds:
        check_single_process(config)
    log = log if is_main() else quiet
    notes = fit_preprocessing(task, splits, log)
    encoded = encode_splits(task, splits)
    log("rows: " + ", ".join(f"{k} {split_summary(task, splits[k].y)['rows']}" for k in SPLITS))
    out.mkdir(parents=True, exist_ok=True)
    infos = data_infos(task, splits)
    fitted = fit_models(config, task, splits, encoded, out, run_key=run_key(config, infos),
                        resume=resume, log=log, on_epoch=on_epoch)
    if not is_main():  # workers are done; the main process evaluates and writes the bundle
        cleanup()
        return None
    finish_fit(config, task, fitted, encoded)
    scored = score_splits(config, task, fitted, splits, encoded, out, log=log)
    curve = _learning_curve(config, splits, scored, out, log)
    manifest = train_manifest(config, task, splits, infos, fitted, scored,
                              notes=notes + fitted.notes, started=started, curve=curve)
    bundle = save_bundle(out, config=config, task=task, model=fitted.model,
                         metrics=scored.metrics, manifest=manifest,
                         predictions=scored.predictions, conformal=scored.conformal)
    remove_checkpoints(out, len(fitted.members))
    write_train_report(bundle, frames=splits.frames(), outputs=scored.outputs, log=log)
    if encrypt_with is not None:  # after the report, so report files are sealed too
        from healthnn.privacy.encryption import encrypt_bundle

        encrypt_bundle(out, encrypt_with)
    cleanup()
    return Run(task, splits, fitted, scored, bundle)


def _learning_curve(config: Config, splits: Splits, scored: Scored, out: Path, log: Log
                    ) -> dict[str, Any] | None:
    if not (config.report.learning_curve and config.report.enabled):
        return None
    from healthnn.pipeline.resample import learning_curve

    return learning_curve(config, splits, scored.metrics["test"], out=out / "learning_curve",
                          log=log)


def check_single_process(config: Config) -> None:
    """[eval] operating_point_folds trains its extra models in the main process only."""
    from healthnn.training.distributed import is_distributed

    if is_distributed():
        raise ConfigError("[eval] operating_point_folds trains its extra models in one process",
                          file=config.source, key="eval.operating_point_folds",
                          hint="train without --nproc, or use 0 (the validation split)")


def _kfold_only(config: Config, *, resume: bool, encrypt_with: bytes | None) -> None:
    from healthnn.errors import HealthnnError
    from healthnn.training.distributed import is_distributed

    if resume or encrypt_with is not None or is_distributed():
        raise HealthnnError("--nproc, --encrypt and --resume are not available with "
                            "split.method = 'kfold'")


def training_rows(config: Config) -> tuple[Any, Labelled]:
    """A new task for ``config`` and the usable rows of ``[data] train`` (what the row
    positions of cross-validation and :func:`healthnn.pipeline.split.splits_at` refer to)."""
    from healthnn.pipeline.data import read_labelled

    task = new_task(config)
    return task, read_labelled(task, config.resolve(config.data.train), training=True)
