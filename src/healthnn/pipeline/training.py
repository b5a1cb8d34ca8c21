"""``healthnn train``: read, split, then one run (or, with ``[split] method = "kfold"``,
cross-validation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from healthnn.bundle import Bundle
from healthnn.bundle_files import sealing
from healthnn.config import Config
from healthnn.pipeline.common import Log, as_config, new_task, stderr
from healthnn.pipeline.cv import cross_validate
from healthnn.pipeline.data import read_training
from healthnn.pipeline.run import run_split
from healthnn.pipeline.split import make_splits

__all__ = ["train"]


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
        _kfold_only(config, resume=resume, encrypt_with=encrypt_with)
        return cross_validate(config, out, log=log)
    from healthnn.training.distributed import init_from_env

    init_from_env()  # a no-op unless launched by torchrun (healthnn train --nproc N)
    task = new_task(config)
    data, test = read_training(config, task)
    splits = make_splits(config, task, data, test)
    with sealing(encrypt_with):  # extra models fitted on the way are sealed too
        run = run_split(config, task, splits, Path(out), resume=resume, log=log,
                        encrypt_with=encrypt_with)
    return None if run is None else run.bundle


def _kfold_only(config: Config, *, resume: bool, encrypt_with: bytes | None) -> None:
    from healthnn.errors import HealthnnError
    from healthnn.training.distributed import is_distributed

    if resume or encrypt_with is not None or is_distributed():
        raise HealthnnError("--nproc, --encrypt and --resume are not available with "
                            "split.method = 'kfold'")
