"""Stage 3: fitting. Preprocessing on the training rows, encoding every split, then the
model: one, an ensemble of seeds, a transfer-learning start, or federated training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from healthnn.checks import leakage_notes
from healthnn.config import Config
from healthnn.errors import DataError
from healthnn.pipeline.split import SPLITS, Splits
from healthnn.training import Trainer, collect_outputs, resolve_device, seed_everything

__all__ = ["Fitted", "EpochCallback", "encode_splits", "fit_preprocessing", "fit_models"]

Log = Callable[[str], None]
EpochCallback = Callable[[int, dict[str, float]], None]
Encoded = dict[str, tuple[Any, dict[str, torch.Tensor]]]


@dataclass
class Fitted:
    """A trained model (an :class:`~healthnn.models.ensemble.Ensemble` of ``members`` when
    there are several), each member's training result, and the notes for the user."""

    model: nn.Module
    members: list[nn.Module]
    results: list[Any]
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> Any:
        """The first member's training result (history, best epoch, privacy spent)."""
        return self.results[0]


def fit_preprocessing(task: Any, splits: Splits, log: Log) -> list[str]:
    """``task.fit`` on the training rows; returns (and logs) the notes of this run."""
    train = splits["train"]
    leaks = leakage_notes(task.config, task, splits.frames())  # [data] leakage: before training
    notes = splits.notes + leaks + task.fit(train.df, train.y, train.file)
    for note in notes:
        log(f"note: {note}")
    return notes


def encode_splits(task: Any, splits: Splits) -> Encoded:
    """Model inputs and target tensors of every split. A row that cannot be encoded (or whose
    label the model cannot score) is a :class:`DataError` naming its file and row."""
    encoded: Encoded = {}
    for name in SPLITS:
        part = splits[name]
        inputs, errors = task.encode(part.df, part.file)
        for pos, msg in task.unknown_label_errors(part.y).items():
            errors.setdefault(pos, msg)
        if errors:
            pos = min(errors)
            raise DataError(errors[pos], file=str(part.file), row=int(part.rows[pos]),
                            hint="fix or remove this row; training data must be complete")
        encoded[name] = (inputs, task.target_tensors(part.y))
    return encoded


def fit_models(config: Config, task: Any, splits: Splits, encoded: Encoded, out: Path, *,
               run_key: str, resume: bool = False, log: Log,
               on_epoch: EpochCallback | None = None, key: bytes | None = None) -> Fitted:
    """Train ``[train] ensemble`` models (one by default) and return them.

    ``on_epoch(epoch, record)`` is called after every epoch; it may raise to stop training
    (Optuna's pruning signal). Checkpoints go to ``out`` (sealed with ``key``, if given).
    """
    members: list[nn.Module] = []
    results: list[Any] = []
    notes: list[str] = []
    for member in range(config.train.ensemble):  # one model unless [train] ensemble > 1
        seed = config.train.seed + member
        if member:
            seed_everything(seed)
        generator = torch.Generator().manual_seed(seed)
        model = task.build_model()
        if config.model.init or config.model.freeze:  # transfer learning
            from healthnn.models.transfer import apply_init

            transfer_note = apply_init(model, config)
            if member == 0:
                log(f"note: {transfer_note}")
                notes.append(transfer_note)
        members.append(model)
        if config.federated is not None:  # sites train locally; only weights travel
            from healthnn.training.federated import federated_fit

            results.append(federated_fit(model, task, encoded, splits.frames(), config, log=log))
            continue
        checkpoint = out / ("checkpoint.pt" if member == 0 else f"checkpoint_{member}.pt")
        trainer = Trainer(config.train, checkpoint=checkpoint, log=log, on_epoch=on_epoch,
                          key=key)
        results.append(trainer.fit(
            model,
            task.loss,
            task.batches(*encoded["train"], shuffle=True, generator=generator),
            task.batches(*encoded["val"], shuffle=False, batch_size=4096),
            score_fn=task.score,
            greater_is_better=task.greater_is_better if config.train.monitor != "val_loss" else True,
            resume=resume and (member == 0 or checkpoint.is_file()),
            fingerprint=f"{run_key}:{member}" if member else run_key,
        ))
    model = members[0]
    if len(members) > 1:
        from healthnn.models.ensemble import Ensemble

        model = Ensemble(members)
    return Fitted(model, members, results, notes)


def finish_fit(config: Config, task: Any, fitted: Fitted, encoded: Encoded) -> None:
    """What needs the trained model's training-set outputs (a survival baseline hazard);
    the model ends on the CPU."""
    device = resolve_device(config.train.device)
    train_out, train_targets = collect_outputs(
        fitted.model, task.batches(*encoded["train"], shuffle=False, batch_size=4096), device)
    task.after_fit(train_out, train_targets)
    fitted.model.cpu()


def remove_checkpoints(out: Path, members: int) -> None:
    """The per-member checkpoints, once the bundle is saved."""
    (out / "checkpoint.pt").unlink(missing_ok=True)
    for member in range(1, members):
        (out / f"checkpoint_{member}.pt").unlink(missing_ok=True)
