"""healthnn: turn a hospital's own data into a trained, evaluated, explainable neural network.

The public API is re-exported here; implementation modules may change behind it. Heavy
dependencies are imported on first use, so ``import healthnn`` is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Config": "healthnn.config",
    "load_config": "healthnn.config",
    "train": "healthnn.pipeline",
    "evaluate": "healthnn.pipeline",
    "predict": "healthnn.pipeline",
    "predict_file": "healthnn.pipeline",
    "Bundle": "healthnn.bundle",
    "load_bundle": "healthnn.bundle",
    "HealthnnError": "healthnn.errors",
    "ConfigError": "healthnn.errors",
    "DataError": "healthnn.errors",
    "BundleError": "healthnn.errors",
    # EHR event streams (issue 8)
    "read_events": "healthnn.data.events",
    "clean_events": "healthnn.data.events",
    "aggregate_events": "healthnn.data.events",
    "build_mimic_cohort": "healthnn.data.mimic",
    "build_app": "healthnn.serve",
    # issue 9: model selection and scarce data
    "tune": "healthnn.tuning",
    "cross_validate": "healthnn.tuning",
    "pretrain": "healthnn.pretraining",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'healthnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
