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


# -- named-entity recognition (issue 3) ------------------------------------------------------
_NER_FIRST = ["John", "Mary", "Robert", "Linda", "James", "Susan", "David", "Karen", "Paul",
              "Helen", "Mark", "Nancy", "George", "Ruth", "Frank", "Alice"]
_NER_LAST = ["Smith", "Johnson", "Brown", "Miller", "Wilson", "Moore", "Taylor", "Clark",
             "Walker", "Young", "Allen", "Wright", "Scott", "Green", "Baker", "Adams"]
_NER_DRUGS = ["Lasix", "heparin", "metoprolol", "aspirin", "insulin", "vancomycin"]


def ner_notes(n: int = 60, seed: int = 0) -> list[dict]:
    """Synthetic span-JSONL documents (written for the tests): names after 'Pt' or 'Dr.', dates
    as M/D/YYYY, record numbers after 'MRN'; vital signs and doses that are not PHI."""
    r = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        parts: list[tuple[str, str | None]] = []
        first, last, doc = r.choice(_NER_FIRST), r.choice(_NER_LAST), r.choice(_NER_LAST)
        date = f"{r.integers(1, 13)}/{r.integers(1, 29)}/20{r.integers(10, 24)}"
        templates = [
            [("Pt ", None), (f"{first} {last}", "NAME"), (" seen on ", None), (date, "DATE"),
             (" by Dr. ", None), (doc, "NAME"), (f". BP {r.integers(90, 160)}/{r.integers(50, 95)}"
                                                  f", HR {r.integers(50, 120)}.\n", None)],
            [("MRN ", None), (str(r.integers(100000, 999999)), "ID"), ("\n", None),
             (first, "NAME"), (" admitted ", None), (date, "DATE"), ("; given ", None),
             (f"{r.choice(_NER_DRUGS)} {r.integers(1, 9) * 10} mg. Dr. ", None), (doc, "NAME"),
             (" aware.\n", None)],
        ]
        for piece in templates[i % 2]:
            parts.append(piece)
        text, spans = "", []
        for chunk, label in parts:
            if label:
                spans.append({"start": len(text), "end": len(text) + len(chunk), "label": label})
            text += chunk
        docs.append({"id": f"n{i}", "patient": f"p{i // 3}", "text": text, "spans": spans})
    return docs


def ner_config(train: Path, **data) -> dict:
    return {
        "task": "ner",
        "data": {"train": str(train), "max_length": 32, "overlap": 8, **data},
        "model": {"name": "bilstm_charcnn", "word_dim": 24, "char_dim": 8, "char_filters": 16,
                  "hidden": 32},
        "train": {**FAST, "epochs": 12, "lr": 0.01, "batch_size": 16},
        "eval": {"bootstrap": 20},
    }
