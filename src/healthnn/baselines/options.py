"""``[baseline]``: which simple reference models are fitted beside the network.

Kept free of heavy imports: :mod:`healthnn.config` reads this section for every config.

>>> BaselineConfig().models is None  # None: the task's defaults
True
>>> default_baselines("survival")
['cox', 'xgboost_cox']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BaselineConfig", "default_baselines", "available_baselines", "check_baseline_config",
           "resamples", "DEFAULT_RESAMPLES"]

DEFAULT_RESAMPLES = 200

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
    """Simple reference models fitted beside the network, on the same rows (issue 20).

    ``models``: the baselines fitted on the network's training rows and scored on its test
    rows (``test_baseline_<name>`` in metrics.json, with the paired difference to the network
    in ``test_vs_baseline_<name>``). None (the default): the task's defaults; ``[]``: none.

    ``bootstrap``: resamples of the test rows on which the network and every baseline are
    scored together (the baselines' intervals and the paired intervals of the differences).
    None: ``[eval] bootstrap``, at most 200 (the baselines then took 7% of the CPU time of
    ``healthnn demo``, 15-21% of its two smallest runs; BENCHMARKS.md); 1000 gives finer
    interval ends at about three times the cost.
    """

    models: list[str] | None = None
    bootstrap: int | None = None


def default_baselines(task: str) -> list[str]:
    """The baselines a task fits when ``[baseline] models`` is not set."""
    return list(_DEFAULTS.get(task, []))


def available_baselines(task: str) -> list[str]:
    """Every baseline ``[baseline] models`` may name for ``task``."""
    return [*_DEFAULTS.get(task, []), *_EXTRA.get(task, [])]


def check_baseline_config(task: str, cfg: BaselineConfig, source: str) -> None:
    """Raise :class:`~healthnn.errors.ConfigError` for a baseline the task cannot fit."""
    from healthnn.errors import ConfigError

    if cfg.bootstrap is not None and cfg.bootstrap < 0:
        raise ConfigError("must be >= 0", file=source, key="baseline.bootstrap",
                          hint="the number of bootstrap resamples, e.g. 200")
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


def resamples(config: object) -> int:
    """The number of paired bootstrap resamples for a :class:`~healthnn.config.Config`."""
    own = config.baseline.bootstrap  # type: ignore[attr-defined]
    return min(config.eval.bootstrap, DEFAULT_RESAMPLES) if own is None else own  # type: ignore[attr-defined]
