"""The one trainer every task uses.

AdamW, a learning-rate schedule, gradient clipping, early stopping on validation loss or a
validation metric, deterministic seeding, a progress bar, and a checkpoint after every epoch
that ``resume=True`` continues from. Tasks supply the model, a loss function, batch iterables
and (optionally) a scoring function; the trainer knows nothing of X-rays or survival times.
"""

from __future__ import annotations

import copy
import math
import os
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from healthnn.config import TrainConfig
from healthnn.errors import BundleError, ConfigError, HealthnnError
from healthnn.training.distributed import is_distributed, is_main, shard
from healthnn.training.progress import EpochLines, bar_is_hidden
from healthnn.models.transfer import hold_frozen_norms

__all__ = ["Trainer", "TrainResult", "seed_everything", "resolve_device", "TensorBatches",
           "collect_outputs"]

Batch = tuple[Any, dict[str, torch.Tensor]]
LossFn = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]
ScoreFn = Callable[[torch.Tensor, dict[str, torch.Tensor]], dict[str, float]]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run repeats exactly on the same machine."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA is not available on this machine", key="train.device",
                          hint="use device = 'cpu' or 'auto'")
    return torch.device(name)


class TensorBatches:
    """Mini-batches over in-memory tensors (much faster than a per-row DataLoader for tables).

    Iterating yields ``(inputs, targets)`` with ``targets`` a dict of tensors. With
    ``shuffle=True`` each pass draws a new permutation from ``generator``.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: dict[str, torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last_single: bool = True,
    ) -> None:
        self.inputs = inputs
        self.targets = targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last_single = drop_last_single

    def __len__(self) -> int:
        return math.ceil(len(self.inputs) / self.batch_size)

    def __iter__(self):
        n = len(self.inputs)
        if self.shuffle:
            order = shard(torch.randperm(n, generator=self.generator))
        else:
            order = None
        m = n if order is None else len(order)
        for start in range(0, m, self.batch_size):
            stop = min(start + self.batch_size, m)
            if self.shuffle and self.drop_last_single and stop - start == 1 and m > 1:
                continue  # BatchNorm cannot train on a batch of one
            if order is None:
                yield self.inputs[start:stop], {k: v[start:stop] for k, v in self.targets.items()}
            else:
                idx = order[start:stop]
                yield self.inputs[idx], {k: v[idx] for k, v in self.targets.items()}


@dataclass
class TrainResult:
    """What training produced: the best epoch, per-epoch history and whether it stopped early."""

    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: int | None = None
    privacy: dict[str, float] | None = None
    federated: dict[str, Any] | None = None  # sites and rounds (federated training only)


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to(v, device) for v in x)
    if hasattr(x, "to"):
        return x.to(device)
    return x


@torch.no_grad()
def collect_outputs(
    model: nn.Module, batches: Iterable[Batch], device: torch.device
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run the model in eval mode over all batches; concatenate outputs and targets (on CPU)."""
    model.eval()
    outs, targets = [], {}
    for inputs, tgt in batches:
        with torch.no_grad():  # no autograd graph: less memory and time when predicting
            outs.append(model(_to(inputs, device)).float().cpu())
        for k, v in tgt.items():
            targets.setdefault(k, []).append(v)
    return torch.cat(outs), {k: torch.cat(v) for k, v in targets.items()}


class Trainer:
    """Train a model with early stopping.

    Parameters
    ----------
    config: the ``[train]`` section.
    checkpoint: file written after every epoch (and read by ``resume=True``).
    log: where one-line messages go (defaults to stderr).
    key: with a key, checkpoints are sealed before they reach the disk.
    on_epoch: called as ``on_epoch(epoch, record)`` after each epoch's validation (the record
        holds ``val_loss`` and ``val_<metric>`` values); it may raise to stop training, as
        hyperparameter search does to prune a poor trial.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        checkpoint: str | Path | None = None,
        log: Callable[[str], None] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
        key: bytes | None = None,
    ) -> None:
        self.config = config
        self.key = key  # seal checkpoints with it (train --encrypt)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.on_epoch = on_epoch

    def fit(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_batches: Iterable[Batch],
        val_batches: Iterable[Batch],
        *,
        score_fn: ScoreFn | None = None,
        greater_is_better: bool = True,
        resume: bool = False,
        fingerprint: str = "",
    ) -> TrainResult:
        """Train ``model`` in place; on return it holds the best epoch's weights."""
        cfg = self.config
        device = resolve_device(cfg.device)
        if is_distributed() and device.type == "cuda":
            device = torch.device("cuda", torch.cuda.current_device())
        model.to(device)
        # the module that trains: DDP averages gradients across processes
        net = model
        if is_distributed():
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        # frozen parameters (transfer learning: [model] freeze) are left out of the optimiser
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = self._scheduler(optimizer)
        step_optimizer = optimizer  # what takes the steps (a DP optimizer under DP-SGD)
        dp = None
        if cfg.privacy is not None:
            from healthnn.training.privacy import DPState

            if is_distributed():
                raise ConfigError("differential privacy with --nproc > 1 is not supported yet",
                                  key="train.privacy", hint="train with one process")
            n_train = len(getattr(train_batches, "inputs", None)
                          if hasattr(train_batches, "inputs")
                          else getattr(train_batches, "dataset", []))
            dp = DPState(cfg.privacy, n_train=n_train, batch_size=cfg.batch_size,
                         epochs=cfg.epochs)
            train_batches = dp.batches(train_batches)
            net, step_optimizer = dp.wrap(model, optimizer)
            replaced = getattr(model, "dp_replaced_layers", [])
            self.log(
                f"differential privacy: epsilon {cfg.privacy.epsilon:g}, delta "
                f"{cfg.privacy.delta:g}, noise multiplier {dp.noise_multiplier:.3f}"
                + (f"; {', '.join(replaced)} replaced by GroupNorm" if replaced else ""))
        monitor_loss = cfg.monitor == "val_loss"
        if not monitor_loss and score_fn is None:
            raise ConfigError(f"this task cannot monitor {cfg.monitor!r}", key="train.monitor",
                              hint="use 'val_loss'")
        sign = 1.0 if (monitor_loss or not greater_is_better) else -1.0  # minimise sign*score
        best = math.inf
        best_state = copy.deepcopy(model.state_dict())
        best_epoch, bad_epochs, start_epoch = 0, 0, 1
        history: list[dict[str, float]] = []
        resumed_from = None

        if resume:
            state = self._load_checkpoint(fingerprint)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            best, best_epoch, bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]
            best_state = state["best_state"]
            history = state["history"]
            start_epoch = state["epoch"] + 1
            torch.set_rng_state(state["torch_rng"])
            if dp is not None:
                dp.load(state.get("dp_history", []))
            gen = getattr(train_batches, "generator", None)
            if gen is not None and state.get("batch_rng") is not None:
                gen.set_state(state["batch_rng"])
            resumed_from = state["epoch"]
            self.log(f"resuming after epoch {state['epoch']} (best so far: epoch {best_epoch})")

        stopped_early = bad_epochs >= cfg.patience
        bar = _progress(start_epoch, cfg.epochs, enabled=cfg.progress and is_main())
        lines = EpochLines(cfg.epochs, cfg.monitor, self.log,
                           every=bar_is_hidden(bar), enabled=cfg.progress and is_main())
        for epoch in range(start_epoch, cfg.epochs + 1):
            if stopped_early:
                break
            lines.start()
            net.train()
            hold_frozen_norms(model)  # [model] freeze: frozen BatchNorm keeps its statistics
            total, count = 0.0, 0
            for inputs, targets in train_batches:
                inputs, targets = _to(inputs, device), _to(targets, device)
                if _batch_len(inputs) == 0:  # an empty Poisson batch: nothing to release
                    if dp is not None:
                        dp.step()
                    continue
                step_optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(net(inputs), targets)
                if not torch.isfinite(loss):
                    raise HealthnnError(
                        f"training loss became {loss.item()} in epoch {epoch}",
                        hint="try a lower train.lr, or check the data for extreme values",
                    )
                loss.backward()
                if cfg.grad_clip > 0 and dp is None:  # DP-SGD clips per example instead
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                step_optimizer.step()
                if dp is not None:
                    dp.step()
                n = _batch_len(inputs)
                total += loss.item() * n
                count += n
            outputs, targets = collect_outputs(model, val_batches, device)
            val_loss = float(loss_fn(outputs, targets))
            row = {"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
                   "lr": optimizer.param_groups[0]["lr"]}
            if score_fn is not None:
                row.update({f"val_{k}": float(v) for k, v in score_fn(outputs, targets).items()})
            history.append(row)
            score = val_loss if monitor_loss else row.get(f"val_{cfg.monitor}", math.nan)
            if math.isnan(score):
                raise ConfigError(f"validation metric {cfg.monitor!r} is not available",
                                  key="train.monitor",
                                  hint=f"one of: val_loss, {', '.join(k[4:] for k in row if k.startswith('val_') and k != 'val_loss')}")
            if sign * score < best - 1e-7:
                best, best_epoch, bad_epochs = sign * score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(sign * score)
                else:
                    scheduler.step()
            stopped_early = bad_epochs >= cfg.patience
            self._save_checkpoint(
                epoch=epoch, model=model, optimizer=optimizer, scheduler=scheduler, best=best,
                best_epoch=best_epoch, bad_epochs=bad_epochs, best_state=best_state,
                history=history, fingerprint=fingerprint,
                batch_rng=_generator_state(train_batches),
                dp_history=dp.state() if dp is not None else None,
            )
            if bar is not None:
                bar.set_postfix(train=f"{row['train_loss']:.4f}", val=f"{val_loss:.4f}",
                                best=best_epoch)
                bar.update(1)
            lines.done(row, best_epoch=best_epoch, patience_left=cfg.patience - bad_epochs)
            if self.on_epoch is not None:
                self.on_epoch(epoch, row)
        if bar is not None:
            bar.close()
        if dp is not None:
            net._close()  # remove Opacus' hooks; the model is a plain module again
        model.load_state_dict(best_state)
        model.eval()
        return TrainResult(best_epoch=best_epoch, best_score=sign * best, history=history,
                           stopped_early=stopped_early, resumed_from=resumed_from,
                           privacy=dp.spent() if dp is not None else None)

    def _scheduler(self, optimizer: torch.optim.Optimizer):
        kind = self.config.scheduler
        if kind == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=0.5, patience=max(1, self.config.patience // 3)
            )
        if kind == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.config.epochs)
        return None

    def _save_checkpoint(self, *, epoch, model, optimizer, scheduler, best_state, fingerprint,
                         **rest) -> None:
        if self.checkpoint is None or not is_main():
            return
        state = {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "best_state": best_state,
            "torch_rng": torch.get_rng_state(),
            "fingerprint": fingerprint,
            **rest,
        }
        from healthnn.bundle_files import save_checkpoint

        save_checkpoint(self.checkpoint, state, self.key)

    def _load_checkpoint(self, fingerprint: str) -> dict[str, Any]:
        if self.checkpoint is None or not self.checkpoint.is_file():
            raise BundleError("no checkpoint to resume from", file=str(self.checkpoint),
                              hint="run without --resume to start training")
        from healthnn.bundle_files import load_checkpoint

        state = load_checkpoint(self.checkpoint, self.key)
        if fingerprint and state.get("fingerprint") != fingerprint:
            raise BundleError(
                "the checkpoint was made with another config or data",
                file=str(self.checkpoint),
                hint="resume with the same config and data, or start again without --resume",
            )
        return state


def _generator_state(batches: Any) -> torch.Tensor | None:
    gen = getattr(batches, "generator", None)
    return gen.get_state() if gen is not None else None


def _batch_len(inputs: Any) -> int:
    if isinstance(inputs, torch.Tensor):
        return len(inputs)
    if isinstance(inputs, dict):
        return _batch_len(next(iter(inputs.values())))
    if isinstance(inputs, (list, tuple)):
        return _batch_len(inputs[0])
    return len(inputs)


def _progress(start: int, total: int, *, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start - 1, desc="training", unit="epoch", leave=False,
                file=sys.stderr, disable=None)
