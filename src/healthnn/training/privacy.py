"""Differentially private training (DP-SGD with Opacus) for the shared trainer.

``[train] privacy = { epsilon = 3.0, delta = 1e-5, max_grad_norm = 1.0 }`` makes the trainer:

* replace layers that mix examples within a batch (BatchNorm -> GroupNorm) when the model is
  built, so training and a reloaded bundle use the same architecture;
* draw each batch by Poisson sampling (every training row independently with probability
  ``batch_size / n``), as the privacy analysis assumes;
* clip every example's gradient to ``max_grad_norm`` and add Gaussian noise whose scale is
  chosen so that the planned ``epochs`` spend at most ``epsilon`` (RDP accountant);
* report the epsilon actually spent (less when early stopping ends training sooner).

The guarantee covers the training rows. Validation rows steer early stopping and are not
covered; hold them out of anything you publish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from typing import Any

import torch
from torch import nn

from healthnn.config import PrivacyConfig
from healthnn.errors import ConfigError

__all__ = ["make_private_compatible", "PoissonBatches", "DPState"]


def _opacus():
    try:
        import opacus  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("differential privacy needs the 'opacus' package", key="train.privacy",
                          hint="pip install 'healthnn[privacy]'") from None


def make_private_compatible(model: nn.Module) -> nn.Module:
    """Replace layers DP-SGD cannot train (BatchNorm -> GroupNorm); record what changed.

    BatchNorm1d (features of a table, shape N x C) becomes GroupNorm with one group, which
    normalises each example over its features; image BatchNorms become GroupNorm with up to 32
    groups. (One group per channel would zero every feature of an N x C input.)
    """
    _opacus()
    from opacus.validators import ModuleValidator

    changed = sorted({type(m).__name__ for m in model.modules()
                      if isinstance(m, nn.modules.batchnorm._BatchNorm)})
    model = _replace_batchnorm(model)
    for m in model.modules():  # Opacus' backward hooks forbid in-place activations
        if getattr(m, "inplace", False) is True:
            m.inplace = False
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise ConfigError(f"this model cannot be trained with differential privacy: {errors[0]}",
                          key="train.privacy")
    model.dp_replaced_layers = changed  # type: ignore[attr-defined]
    return model


def _replace_batchnorm(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        c = module.num_features
        groups = 1
        if not isinstance(module, nn.BatchNorm1d):
            groups = max(g for g in range(1, min(32, c) + 1) if c % g == 0)
        return nn.GroupNorm(groups, c, affine=module.affine)
    for name, child in module.named_children():
        setattr(module, name, _replace_batchnorm(child))
    return module


class PoissonBatches:
    """``steps`` batches drawn by Poisson sampling: each row is in a batch with probability
    ``sample_rate`` (as the privacy analysis assumes). ``take(index)`` builds the batch of the
    chosen rows; an empty draw is a step without an update."""

    def __init__(self, n: int, take: Callable[[torch.Tensor], Any], sample_rate: float,
                 generator: torch.Generator | None) -> None:
        self.n, self.take = n, take
        self.sample_rate = sample_rate
        self.generator = generator
        self.steps = max(1, int(1 / sample_rate))  # never more steps than the accountant assumed

    @classmethod
    def of_tensors(cls, inputs: Any, targets: dict[str, torch.Tensor], sample_rate: float,
                   generator: torch.Generator | None) -> PoissonBatches:
        """From in-memory tensors (tables, molecules)."""
        return cls(len(inputs), lambda i: (inputs[i], {k: v[i] for k, v in targets.items()}),
                   sample_rate, generator)

    @classmethod
    def of_loader(cls, loader: torch.utils.data.DataLoader, sample_rate: float,
                  generator: torch.Generator | None) -> PoissonBatches:
        """From a task's DataLoader (images): its dataset and collate function (augmentation,
        normalisation)."""
        dataset, collate = loader.dataset, loader.collate_fn
        fetch = getattr(dataset, "__getitems__", None)

        def take(index: torch.Tensor) -> Any:
            idx = index.tolist()
            if not idx:
                return torch.empty(0), {}
            return collate(fetch(idx) if fetch else [dataset[i] for i in idx])

        return cls(len(dataset), take, sample_rate, generator)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            mask = torch.rand(self.n, generator=self.generator) < self.sample_rate
            yield self.take(torch.nonzero(mask).flatten())


@dataclass
class FixedNoise(PrivacyConfig):
    """A privacy config whose noise multiplier was fixed beforehand (federated training
    spreads one budget over all rounds of a site, so no single local run may derive it)."""

    noise_multiplier: float = 1.0


def site_noise(cfg: PrivacyConfig, *, n_rows: int, batch_size: int, epochs: int
               ) -> tuple[float, float, int]:
    """Noise multiplier, sample rate and DP-SGD steps that spend ``cfg``'s budget over
    ``epochs`` passes of Poisson-sampled batches over ``n_rows`` rows."""
    import warnings

    _opacus()
    from opacus.accountants.utils import get_noise_multiplier

    q = min(1.0, batch_size / max(n_rows, 1))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        sigma = get_noise_multiplier(target_epsilon=cfg.epsilon, target_delta=cfg.delta,
                                     sample_rate=q, epochs=epochs, accountant="rdp")
    return float(sigma), q, int(epochs * max(1, int(1 / q)))


def epsilon_spent(sigma: float, q: float, steps: int, delta: float) -> float:
    """RDP epsilon of ``steps`` Gaussian steps with noise ``sigma`` and sample rate ``q``."""
    _opacus()
    from opacus.accountants import RDPAccountant

    import warnings

    acc = RDPAccountant()
    acc.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(acc.get_epsilon(delta)) if steps else 0.0


class DPState:
    """Wraps model and optimizer for DP-SGD and tracks the privacy spent."""

    def __init__(self, cfg: PrivacyConfig, *, n_train: int, batch_size: int, epochs: int) -> None:
        _opacus()
        from opacus.accountants import RDPAccountant

        self.cfg = cfg
        fixed = getattr(cfg, "noise_multiplier", None)  # set by federated training
        if fixed is not None:
            self.sample_rate, self.noise_multiplier = min(1.0, batch_size / max(n_train, 1)), fixed
        else:
            self.noise_multiplier, self.sample_rate, _ = site_noise(
                cfg, n_rows=n_train, batch_size=batch_size, epochs=epochs)
        self.batch_size = batch_size
        self.accountant = RDPAccountant()

    def wrap(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        import warnings

        from opacus import GradSampleModule

        # Opacus' hooks warn on every backward pass when inputs need no gradient (always here)
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        from opacus.optimizers import DPOptimizer

        net = GradSampleModule(model)
        dp_opt = DPOptimizer(optimizer, noise_multiplier=self.noise_multiplier,
                             max_grad_norm=self.cfg.max_grad_norm,
                             expected_batch_size=self.batch_size)
        return net, dp_opt

    def batches(self, train_batches: Any) -> PoissonBatches:
        if isinstance(train_batches, torch.utils.data.DataLoader):
            return PoissonBatches.of_loader(train_batches, self.sample_rate,
                                            train_batches.generator)
        if not hasattr(train_batches, "inputs") or not hasattr(train_batches, "targets"):
            raise ConfigError("differential privacy is not available for this task's data loader",
                              key="train.privacy")
        return PoissonBatches.of_tensors(train_batches.inputs, train_batches.targets,
                                         self.sample_rate,
                                         getattr(train_batches, "generator", None))

    def step(self) -> None:
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)

    def spent(self) -> dict[str, float]:
        steps = len(self.accountant.history) and sum(h[2] for h in self.accountant.history)
        eps = self.accountant.get_epsilon(self.cfg.delta) if steps else 0.0
        return {"epsilon_spent": float(eps), "epsilon_budget": self.cfg.epsilon,
                "delta": self.cfg.delta, "noise_multiplier": float(self.noise_multiplier),
                "max_grad_norm": self.cfg.max_grad_norm, "sample_rate": self.sample_rate,
                "steps": int(steps)}

    def state(self) -> list[list[float]]:
        return [list(h) for h in self.accountant.history]

    def load(self, history: list[list[float]]) -> None:
        self.accountant.history = [tuple(h) for h in history]
