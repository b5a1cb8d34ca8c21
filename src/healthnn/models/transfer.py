"""Transfer learning for any model: start from local weights, freeze chosen layers.

``[model] init`` names where the starting weights come from (nothing is downloaded):

* a bundle directory written by ``healthnn train`` (its ``model.safetensors``; for an ensemble
  bundle, its first member),
* a directory written by ``healthnn pretrain`` (its ``encoder.safetensors``),
* a ``.safetensors`` file, or a torch state dict (``.pt``/``.pth``, read with
  ``weights_only=True``, so it cannot run code).

Tensors are matched by parameter name and shape. The output layer of another task (a different
number of classes) does not match and keeps its fresh initialisation; so does a projection
head of a pretraining run. If fewer than half of the model's tensors match, the checkpoint is of
another architecture and training stops with a :class:`~healthnn.errors.ConfigError` that names
the first mismatching tensor.

``[model] freeze`` lists parameter-name prefixes (``"stem"``, ``"layer1"``, ``"features.0"``)
whose parameters are not trained; the optimiser leaves them out. BatchNorm layers inside frozen
layers are frozen whole: the trainer keeps them in evaluation mode (:func:`hold_frozen_norms`),
so their running statistics stay those of the checkpoint.

>>> import torch
>>> from torch import nn
>>> src, dst = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)), nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
>>> copied, total, _ = load_matching(dst, src.state_dict(), source="<memory>")
>>> copied, total
(2, 4)
>>> torch.equal(dst[0].weight, src[0].weight)
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from healthnn.errors import ConfigError

__all__ = ["apply_init", "load_matching", "read_weights", "freeze", "hold_frozen_norms"]

_FILES = ("model.safetensors", "encoder.safetensors")


def read_weights(path: Path, *, key: str = "model.init") -> dict[str, torch.Tensor]:
    """The tensors of a bundle, a pretrain output or a weights file (never unpickles code)."""
    if path.is_dir():
        for name in _FILES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ConfigError("this folder holds no model.safetensors (a bundle) or "
                              "encoder.safetensors (a 'healthnn pretrain' output)",
                              file=str(path), key=key)
    if not path.is_file():
        raise ConfigError("checkpoint not found", file=str(path), key=key,
                          hint="give a bundle folder, a 'healthnn pretrain' output folder or a "
                               "local .safetensors / .pt file (nothing is downloaded)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
                state = state["state_dict"]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise ConfigError(f"cannot read the checkpoint ({type(exc).__name__})", file=str(path),
                          key=key, hint="expected a .safetensors file or a torch state dict") from None
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError("the checkpoint holds no tensors", file=str(path), key=key)
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    # an ensemble bundle: start from its first member; DDP / compiled prefixes are dropped
    if all(k.startswith("members.") for k in state):
        state = {k[len("members.0."):]: v for k, v in state.items() if k.startswith("members.0.")}
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_matching(model: nn.Module, state: dict[str, torch.Tensor], *, source: str,
                  key: str = "model.init", min_fraction: float = 0.5) -> tuple[int, int, list[str]]:
    """Copy the tensors of ``state`` whose name and shape match ``model``'s.

    Returns ``(copied, total, skipped)``: tensor counts and the names present in both with
    different shapes (typically the output layer). Raises ConfigError when fewer than
    ``min_fraction`` of the model's tensors can be copied (another architecture).
    """
    own = model.state_dict()
    match = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    skipped = [k for k in state if k in own and state[k].shape != own[k].shape]
    # a partial match is expected for a new head; a mostly missing one is another architecture
    if len(match) < min_fraction * len(own):
        if skipped:
            k = skipped[0]
            detail = (f"first mismatch: '{k}' is {tuple(state[k].shape)} in the checkpoint, "
                      f"{tuple(own[k].shape)} in this model")
        else:
            missing = next((k for k in own if k not in state), "?")
            detail = f"first missing tensor: '{missing}'"
        raise ConfigError(
            f"the checkpoint does not match this model's architecture: {len(match)} of "
            f"{len(own)} tensors match ({detail})", file=source, key=key,
            hint="start from a checkpoint of the same model (same [model] name and size "
                 "settings, same image channels)")
    model.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in match.items()}})
    return len(match), len(own), skipped


def freeze(model: nn.Module, prefixes: list[str], *, source: str = "<config>") -> int:
    """Stop training the parameters whose names start with any of ``prefixes``; returns how
    many parameter tensors were frozen."""
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n == prefix or n.startswith(prefix.rstrip(".") + ".") for n in names):
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError(f"no parameter of this model starts with {prefix!r}", file=source,
                              key="model.freeze", hint=f"top-level layers: {', '.join(tops)}")
    count = 0
    for n, p in model.named_parameters():
        if any(n == pre or n.startswith(pre.rstrip(".") + ".") for pre in prefixes):
            p.requires_grad_(False)
            count += 1
    if count == len(names):
        raise ConfigError("every parameter would be frozen; nothing is left to train",
                          file=source, key="model.freeze",
                          hint="freeze the early layers only and leave the output layer trainable")
    return count


def hold_frozen_norms(model: nn.Module) -> int:
    """Put BatchNorm layers whose affine parameters are all frozen into evaluation mode.

    Called after every ``model.train()``: without it a frozen layer's running mean and variance
    would still drift towards the new data while its weights stay fixed. Returns how many layers
    were held.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    >>> _ = freeze(net, ["0", "1"])
    >>> _ = net.train(); hold_frozen_norms(net), net[1].training, net[2].training
    (1, False, True)
    """
    held = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
                held += 1
    return held


def apply_init(model: nn.Module, config: Any) -> str:
    """Apply ``[model] init`` and ``[model] freeze`` to a freshly built model; returns a note."""
    parts = []
    if config.model.init:
        path = config.resolve(config.model.init)
        state = read_weights(path)
        copied, total, skipped = load_matching(model, state, source=str(path))
        parts.append(f"started from {path.name}: {copied} of {total} tensors copied"
                     + (f" ({len(skipped)} with another shape kept fresh: "
                        f"{', '.join(skipped[:3])})" if skipped else ""))
    if config.model.freeze:
        n = freeze(model, config.model.freeze, source=config.source)
        parts.append(f"{n} parameter tensors frozen ({', '.join(config.model.freeze)})")
    return "; ".join(parts)
