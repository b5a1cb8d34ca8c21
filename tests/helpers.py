"""Test helpers: small synthetic tables and fast training configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATASETS = Path(__file__).resolve().parents[1] / "src" / "healthnn" / "datasets"

# Fast settings for tests: few epochs, few bootstrap resamples, no progress bar.
FAST = {"epochs": 8, "batch_size": 32, "patience": 5, "progress": False}

def make_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A patient table with numeric, categorical and missing values and three outcomes."""
    r = np.random.default_rng(seed)
    age = r.normal(60, 10, n).round(1)
    sex = r.choice(["F", "M"], n)
    bmi = r.normal(27, 4, n).round(1)
    bmi[r.random(n) < 0.1] = np.nan
    smoker = r.choice(["never", "former", "current"], n)
    lin = 0.08 * (age - 60) + 0.6 * (sex == "M") + 0.1 * np.nan_to_num(bmi - 27) \
        + 0.8 * (smoker == "current")
    p = 1 / (1 + np.exp(-lin))
    y = (r.random(n) < p).astype(int)
    t_event = r.exponential(np.exp(-lin) * 100)
    t_cens = r.uniform(20, 200, n)
    time = np.minimum(t_event, t_cens).round(2) + 0.01
    event = (t_event <= t_cens).astype(int)
    return pd.DataFrame({
        "patient": [f"p{i % (n // 2)}" for i in range(n)],  # two rows per patient
        "age": age, "sex": sex, "bmi": bmi, "smoker": smoker,
        "outcome": y, "los": (3 + 0.1 * age + r.normal(0, 1, n)).round(2),
        "time": time, "event": event,
    })


def config_dict(task: str, train: Path, **data) -> dict:
    base = {"classification": {"target": "outcome"}, "regression": {"target": "los"},
            "survival": {"time": "time", "event": "event"}}[task]
    return {
        "task": task,
        "data": {"train": str(train), "id": "patient", **base, **data},
        "train": dict(FAST),
        "eval": {"bootstrap": 30},
    }


MOLECULES = Path(__file__).resolve().parent / "data" / "molecules"

# Small, fast molecule models for tests.
_MOL_MODELS = {"dmpnn": {"hidden": 32, "ffn_hidden": [32]},
               "fingerprint_mlp": {"n_bits": 256, "hidden": [32]}}


def molecule_config(train: Path, target, model: str = "dmpnn", **data) -> dict:
    return {
        "task": "molecule_property",
        "data": {"train": str(train), "target": target, **data},
        "model": {"name": model, **_MOL_MODELS[model]},
        "train": {**FAST, "epochs": 3},
        "eval": {"bootstrap": 20},
    }


TEXT = Path(__file__).resolve().parent / "data" / "text"

# Small, fast text models for tests.
_TEXT_MODELS = {"bigru_attention": {"embed_dim": 32, "hidden": 32},
                "text_transformer": {"dim": 32, "heads": 2, "layers": 1, "ff": 64}}


def text_config(train: Path, model: str = "bigru_attention", **data) -> dict:
    return {
        "task": "text_classification",
        "data": {"train": str(train), "max_length": 64, "vocab_size": 800, **data},
        "model": {"name": model, **_TEXT_MODELS[model]},
        "train": {**FAST, "epochs": 3, "lr": 0.003},
        "eval": {"bootstrap": 20},
    }
