"""What every stage shares: logging functions, the config and a fresh task."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthnn.config import Config, load_config
from healthnn.errors import ConfigError
from healthnn.pipeline.data import Labelled, read_labelled
from healthnn.tasks import get_task_class
from healthnn.training import seed_everything

__all__ = ["Log", "stderr", "quiet", "as_config", "new_task", "training_rows",
           "check_single_process"]

Log = Callable[[str], None]


def stderr(msg: str) -> None:
    """Log to standard error (the default of every run)."""
    print(msg, file=sys.stderr)


def quiet(msg: str) -> None:
    """Log nothing (the inner runs of resampling and tuning)."""


def as_config(config: Config | str | Path | dict[str, Any]) -> Config:
    """A :class:`Config` from a config, a TOML path or a dict."""
    return config if isinstance(config, Config) else load_config(config)


def new_task(config: Config) -> Any:
    """An unfitted task for ``config``, with the training seed set."""
    task = get_task_class(config.task)(config)
    seed_everything(config.train.seed)
    return task


def training_rows(config: Config) -> tuple[Any, Labelled]:
    """A new task for ``config`` and the usable rows of ``[data] train`` (what the row
    positions of cross-validation and :func:`healthnn.pipeline.split.splits_at` refer to)."""
    task = new_task(config)
    return task, read_labelled(task, config.resolve(config.data.train), training=True)


def check_single_process(config: Config) -> None:
    """[eval] operating_point_folds trains its extra models in the main process only."""
    from healthnn.training.distributed import is_distributed

    if is_distributed():
        raise ConfigError("[eval] operating_point_folds trains its extra models in one process",
                          file=config.source, key="eval.operating_point_folds",
                          hint="train without --nproc, or use 0 (the validation split)")
