"""The model registry itself (:func:`register`, :class:`ModelSpec`); model modules import it
from here, and :mod:`healthnn.models` loads them and looks models up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelSpec", "register", "REGISTRY"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, its default hyperparameters, and its tasks."""

    name: str
    builder: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()
    objective: str | None = None  # for tasks with several objectives (survival: cox, discrete)
    doc: str = ""


REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str, *, tasks: tuple[str, ...], objective: str | None = None, **defaults: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``builder(in_features, out_features, **hyperparameters) -> nn.Module``."""

    def deco(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        REGISTRY[name] = ModelSpec(name, builder, dict(defaults), tuple(tasks), objective, doc)
        return builder

    return deco
