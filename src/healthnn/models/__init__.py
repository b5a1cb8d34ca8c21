"""A registry of named models.

Each model is registered with its hyperparameters' defaults and the tasks it serves::

    @register("mlp", tasks=("classification", "regression"), hidden=[64, 64], dropout=0.1)
    def mlp(in_features, out_features, *, hidden, dropout): ...

``[model] name = "mlp"`` in a config picks it; other ``[model]`` keys override the defaults and
are checked here (unknown or mistyped keys are config errors).
"""

from __future__ import annotations

import difflib
from typing import Any

from healthnn.errors import ConfigError
from healthnn.models.registry import REGISTRY as _REGISTRY
from healthnn.models.registry import ModelSpec, register

__all__ = ["ModelSpec", "register", "get_model_spec", "model_names", "validate_model_params",
           "build_model"]


def _load_builtin() -> None:
    # Importing the modules registers their models.
    from healthnn.models import cnn, dmpnn, mlp  # noqa: F401
    from healthnn.models import grud  # noqa: F401
    from healthnn.models import event_transformer  # noqa: F401  (issue 8: events)
    from healthnn.models import hf, text  # noqa: F401
    from healthnn.models import ner  # noqa: F401  (issue 3: token tagging)


def model_names(task: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(n for n, s in _REGISTRY.items() if task is None or task in s.tasks)


def get_model_spec(name: str, *, task: str | None = None, source: str | None = None) -> ModelSpec:
    _load_builtin()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"available: {', '.join(model_names(task))}"
        raise ConfigError(f"unknown model {name!r}", file=source, key="model.name", hint=hint)
    spec = _REGISTRY[name]
    if task is not None and task not in spec.tasks:
        raise ConfigError(
            f"model {name!r} does not serve task {task!r}",
            file=source,
            key="model.name",
            hint=f"models for {task}: {', '.join(model_names(task))}",
        )
    return spec


def validate_model_params(
    name: str, params: dict[str, Any], *, task: str, source: str | None = None
) -> dict[str, Any]:
    """Defaults merged with ``params``, each value type-checked against its default."""
    spec = get_model_spec(name, task=task, source=source)
    merged = dict(spec.defaults)
    for key, value in params.items():
        if key not in spec.defaults:
            close = difflib.get_close_matches(key, list(spec.defaults), n=1)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"{name} takes: {', '.join(spec.defaults) or 'no hyperparameters'}"
            )
            raise ConfigError(f"unknown hyperparameter for model '{name}'", file=source,
                              key=f"model.{key}", hint=hint)
        merged[key] = _check_like(value, spec.defaults[key], f"model.{key}", source)
    return merged


def _check_like(value: Any, default: Any, key: str, source: str | None) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"expected {expected}, got {value!r}", file=source, key=key)

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise fail("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise fail("a string")
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise fail("a list")
        if default and all(isinstance(d, int) for d in default):
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
                raise fail("a list of positive integers")
    return value


def build_model(name: str, params: dict[str, Any], in_features: int, out_features: int) -> Any:
    """Instantiate a registered model (an ``nn.Module``)."""
    spec = get_model_spec(name)
    return spec.builder(in_features, out_features, **params)
