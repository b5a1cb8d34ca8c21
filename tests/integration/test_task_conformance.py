"""The task contract, checked for every registered task and every model registered for it.

Like scikit-learn's ``parametrize_with_checks``: the cases are read from the registries
(:func:`healthnn.tasks.task_names`, :func:`healthnn.models.model_names`), so a new task or
model fails here until it has a case in ``CASES`` and passes every check:

* the task state round-trips through JSON, and a reloaded bundle predicts the same;
* ``predictions_for`` holds no state between calls (the server runs requests concurrently);
* ``input_schema`` has the documented keys;
* ``encode`` reports problems keyed by row position, and ``predict`` keeps the other rows;
* ``evaluate``, ``predict`` and the training run's test file write the same prediction columns;
* the report builds (for the task's default model).

Each case trains for one epoch on a few dozen rows of bundled or synthetic data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import MOLECULES, TEXT, config_dict, make_table, ner_config, ner_notes

from healthnn.bundle import load_bundle
from healthnn.models import model_names
from healthnn.pipeline import evaluate
from healthnn.tasks import get_task_class, task_names

pytestmark = pytest.mark.usefixtures("one_thread")

EHR = Path(__file__).resolve().parents[1] / "data" / "ehr"
SCHEMA_KEYS = {"kind", "column", "columns", "rows", "upload"}
FAST = {"epochs": 1, "batch_size": 16, "patience": 1, "progress": False}


@dataclass
class Case:
    """How to get labelled data and a config for one task, and one row that cannot be used."""

    write: Callable[[Path], Path]                    # writes the labelled data, returns its path
    config: Callable[[Path, str], dict[str, Any]]    # (data path, model name) -> config dict
    broken: Callable[[pd.DataFrame], pd.DataFrame]   # the input rows with row 1 made unusable


def _table(path: Path) -> Path:
    make_table(80).to_csv(path / "t.csv", index=False)
    return path / "t.csv"


def _table_config(task: str) -> Callable[[Path, str], dict[str, Any]]:
    def config(data: Path, model: str) -> dict[str, Any]:
        cfg = config_dict(task, data)
        cfg["train"] = dict(FAST)
        cfg["eval"] = {"bootstrap": 5}
        return cfg
    return config


def _set(column: str, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def broken(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[column] = df[column].astype(object)
        df.loc[df.index[1], column] = value
        return df
    return broken


def _images(path: Path) -> Path:
    from image_helpers import manifest

    return manifest(path / "img", n_per_class=12)


def _image_config(data: Path, model: str) -> dict[str, Any]:
    from image_helpers import image_config

    cfg = image_config(data, model=model, group="patient")
    cfg["train"] = dict(FAST)
    cfg["eval"] = {"bootstrap": 5}
    return cfg


def _molecules(path: Path) -> Path:
    pd.read_csv(MOLECULES / "bbbp_small.csv").head(60).to_csv(path / "m.csv", index=False)
    return path / "m.csv"


def _molecule_config(data: Path, model: str) -> dict[str, Any]:
    params = {"dmpnn": {"hidden": 16, "ffn_hidden": [16]},
              "fingerprint_mlp": {"n_bits": 128, "hidden": [16]}}[model]
    return {"task": "molecule_property", "data": {"train": str(data), "target": "p_np"},
            "model": {"name": model, **params}, "train": dict(FAST), "eval": {"bootstrap": 5}}


def _events(path: Path) -> Path:
    return EHR / "physionet2012_set-a_subset.tar.xz"


def _event_config(data: Path, model: str) -> dict[str, Any]:
    params = {"mlp": {"hidden": [8]}, "grud": {"hidden": 8, "static_hidden": 4},
              "event_transformer": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16,
                                    "static_hidden": 4}}[model]
    return {"task": "event_classification",
            "data": {"train": str(data), "outcomes": str(EHR / "physionet2012_outcomes.txt"),
                     "target": "In-hospital_death", "positive": "1"},
            "model": {"name": model, **params}, "train": dict(FAST),
            "eval": {"bootstrap": 5}, "report": {"importance_repeats": 1}}


def _no_events(df: pd.DataFrame) -> pd.DataFrame:
    from dataclasses import replace

    df = df.copy()
    st = df["events"].iloc[1]
    df.at[df.index[1], "events"] = replace(st, time=st.time[:0], variable=st.variable[:0],
                                           value=st.value[:0])
    return df


def _texts(path: Path) -> Path:
    pd.read_csv(TEXT / "medical_abstracts_250.csv").head(60).to_csv(path / "x.csv", index=False)
    return path / "x.csv"


def _text_config(data: Path, model: str) -> dict[str, Any]:
    params = {"bigru_attention": {"embed_dim": 16, "hidden": 16},
              "text_transformer": {"dim": 16, "heads": 2, "layers": 1, "ff": 32},
              "hf_local": {"path": str(_tiny_bert(data.parent))}}[model]
    return {"task": "text_classification",
            "data": {"train": str(data), "max_length": 32, "vocab_size": 400},
            "model": {"name": model, **params}, "train": dict(FAST), "eval": {"bootstrap": 5}}


def _tiny_bert(folder: Path) -> Path:
    """A randomly initialised 1-layer BERT with its WordPiece tokenizer (as test_text_hf)."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import processors

    from healthnn.text.tokenizer import TextTokenizer

    folder = folder / "tiny-bert"
    texts = pd.read_csv(TEXT / "medical_abstracts_250.csv")["text"].tolist()
    tok = TextTokenizer.train(texts, vocab_size=400).tokenizer
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    folder.mkdir(exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = transformers.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=16,
                                     num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64,
                                     pad_token_id=0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def _notes(path: Path) -> Path:
    p = path / "n.jsonl"
    p.write_text("".join(json.dumps(d) + "\n" for d in ner_notes(40)), encoding="utf-8")
    return p


def _ner_config(data: Path, model: str) -> dict[str, Any]:
    cfg = ner_config(data)
    cfg["train"] = {**FAST, "lr": 0.01}
    cfg["eval"] = {"bootstrap": 5}
    return cfg


CASES: dict[str, Case] = {
    "classification": Case(_table, _table_config("classification"), _set("age", "abc")),
    "regression": Case(_table, _table_config("regression"), _set("age", "abc")),
    "survival": Case(_table, _table_config("survival"), _set("age", "abc")),
    "image_classification": Case(_images, _image_config, _set("path", "missing.png")),
    "molecule_property": Case(_molecules, _molecule_config, _set("smiles", "C1CC(")),
    "event_classification": Case(_events, _event_config, _no_events),
    "text_classification": Case(_texts, _text_config, _set("text", None)),
    "ner": Case(_notes, _ner_config, _set("text", 42)),
}

PAIRS = [(t, m) for t in task_names() for m in model_names(t)]


def test_every_registered_task_has_a_case():
    missing = [t for t in task_names() if t not in CASES]
    assert not missing, f"add a conformance case for task(s) {missing} to CASES"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Callable[[str, str], tuple[Any, Path, Path]]:
    """Train each (task, model) once: its bundle, data file and folder."""
    import healthnn

    done: dict[tuple[str, str], tuple[Any, Path, Path]] = {}

    def get(task: str, model: str) -> tuple[Any, Path, Path]:
        if (task, model) not in done:
            folder = tmp_path_factory.mktemp(f"{task}-{model}")
            case = CASES[task]
            data = case.write(folder)
            cfg = case.config(data, model)
            cfg.setdefault("model", {})["name"] = model
            default = get_task_class(task).default_model == model
            cfg["report"] = {**cfg.get("report", {}), "enabled": default}
            bundle = healthnn.train(cfg, folder / "bundle", log=lambda m: None)
            done[(task, model)] = (bundle, data, folder)
        return done[(task, model)]

    return get


def _inputs(bundle: Any, data: Path) -> pd.DataFrame:
    return bundle.task.read_inputs(data).head(12).reset_index(drop=True)


@pytest.mark.parametrize(("task", "model"), PAIRS)
def test_task_contract(trained, task, model):
    bundle, data, folder = trained(task, model)
    t = bundle.task
    # the state round-trips through JSON, and a reloaded bundle predicts the same
    state = json.loads(json.dumps(t.state_dict()))
    fresh = type(t)(bundle.config)
    fresh.load_state_dict(state)
    assert json.loads(json.dumps(fresh.state_dict())) == state
    df = _inputs(bundle, data)
    first = bundle.predict(df, file=data)
    again = load_bundle(bundle.path).predict(df, file=data)
    pd.testing.assert_frame_equal(first, again, check_exact=False, rtol=1e-5)
    assert (first["error"] == "").all()
    # predictions_for is stateless: another batch in between changes nothing
    enc_a, _ = t.encode(df.head(5), data)
    enc_b, _ = t.encode(df.tail(6), data)
    out_a, out_b = bundle.outputs(enc_a), bundle.outputs(enc_b)
    p_a = t.predictions_for(enc_a, out_a)
    t.predictions_for(enc_b, out_b)
    pd.testing.assert_frame_equal(t.predictions_for(enc_a, out_a), p_a)
    assert len(p_a) == 5
    # the input schema says what one input is
    schema = t.input_schema()
    assert SCHEMA_KEYS <= set(schema), SCHEMA_KEYS - set(schema)
    assert schema["kind"] in ("table", "image", "smiles", "text")
    # problems are keyed by row; the other rows are still predicted
    bad = CASES[task].broken(df)
    _, errors = t.encode(bad, data)
    assert set(errors) == {1} and isinstance(errors[1], str) and errors[1]
    scored = bundle.predict(bad, file=data)
    assert scored["error"].iloc[1] and (scored["error"].drop(index=1) == "").all()
    # evaluate, predict and the training run's test file write the same prediction columns
    flags = set(t.row_flags(df).columns)  # facts about an input (a cut note), not predictions
    added = [c for c in first.columns if c not in df.columns and c != "error" and c not in flags]
    ev = evaluate(bundle, data, folder / f"eval-{model}")
    saved = pd.read_csv(bundle.path / "predictions_test.csv", nrows=1)
    for table in (ev.predictions, saved):
        assert list(table.columns[-len(added) - (table is ev.predictions):]) == (
            added + (["error"] if table is ev.predictions else []))
    # the report builds
    if bundle.config.report.enabled:
        assert (bundle.path / "report.html").is_file()
        assert (folder / f"eval-{model}" / "report.html").is_file()
