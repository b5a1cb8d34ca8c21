"""``[baseline]``: which simple reference models are fitted beside the network.

Kept free of heavy imports: :mod:`healthnn.config` reads this section for every config.

>>> BaselineConfig().models is None  # None: the task's defaults
True
>>> default_baselines("survival")
['cox', 'xgboost_cox']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BaselineConfig", "default_baselines", "available_baselines", "check_baseline_config"]

# task -> the baselines fitted by default (all of them are also the ones a task accepts)
_DEFAULTS: dict[str, list[str]] = {
    "classification": ["logistic", "xgboost"],
    "event_classification": ["logistic", "xgboost"],
    "regression": ["linear", "xgboost"],
    "survival": ["cox", "xgboost_cox"],
    "molecule_property": ["random_forest"],
    "text_classification": ["tfidf"],
}
# further baselines a task accepts when named in [baseline] models
_EXTRA: dict[str, list[str]] = {
    "classification": ["random_forest"],
    "event_classification": ["random_forest"],
    "regression": ["random_forest"],
}


@dataclass
class BaselineConfig:
    """``models``: the baselines fitted on the network's training rows and scored on its test
    rows (``test_baseline_<name>`` in metrics.json, with the paired difference to the network
    in ``test_vs_baseline_<name>``). None (the default): the task's defaults; ``[]``: none."""

    models: list[str] | None = None


def default_baselines(task: str) -> list[str]:
    """The baselines a task fits when ``[baseline] models`` is not set."""
    return list(_DEFAULTS.get(task, []))


def available_baselines(task: str) -> list[str]:
    """Every baseline ``[baseline] models`` may name for ``task``."""
    return [*_DEFAULTS.get(task, []), *_EXTRA.get(task, [])]


def check_baseline_config(task: str, cfg: BaselineConfig, source: str) -> None:
    """Raise :class:`~healthnn.errors.ConfigError` for a baseline the task cannot fit."""
    from healthnn.errors import ConfigError

    allowed = available_baselines(task)
    seen: set[str] = set()
    for i, name in enumerate(cfg.models or []):
        if name not in allowed:
            hint = (f"task '{task}' has: {', '.join(allowed)}" if allowed else
                    f"task '{task}' has no baselines; remove [baseline] models")
            raise ConfigError(f"unknown baseline {name!r}", file=source,
                              key=f"baseline.models[{i}]", hint=hint)
        if name in seen:
            raise ConfigError(f"baseline {name!r} is listed twice", file=source,
                              key=f"baseline.models[{i}]")
        seen.add(name)
