"""Task 'ner' through the shared pipeline: train, reload, predict, evaluate, report, deid."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import ner_config, ner_notes

import healthnn
from healthnn.bundle import load_bundle
from healthnn.errors import ConfigError


def write_jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner")
    train = write_jsonl(tmp / "train.jsonl", ner_notes(72, seed=0))
    test = write_jsonl(tmp / "test.jsonl", ner_notes(24, seed=1))
    cfg = ner_config(train, test=str(test), group="patient")
    bundle = healthnn.train(cfg, tmp / "bundle", log=lambda m: None)
    return tmp, bundle, test


def test_learns_the_obvious_pattern_on_unseen_notes(trained):
    _, bundle, _ = trained
    test = bundle.metrics["test"]
    assert test["span_f1"]["value"] >= 0.85, test["span_f1"]
    assert test["token_recall"]["value"] >= 0.9
    for lab in ("NAME", "DATE", "ID"):
        assert f"span_f1_{lab}" in test
    lo, hi = test["span_f1"]["ci_low"], test["span_f1"]["ci_high"]
    if "note" in test["span_f1"]:  # every resample gave the same value: no fake-precise interval
        assert lo != lo and hi != hi and "every resample" in test["span_f1"]["note"]
    else:
        assert lo <= test["span_f1"]["value"] <= hi


def test_interleaved_predictions_keep_their_own_documents(trained):
    """The server predicts concurrent batches in threads: windows are mapped back to the
    documents they came from, not to whatever batch the task saw last."""
    _, bundle, test_file = trained
    docs = [json.loads(line)["text"] for line in test_file.read_text().splitlines()]
    a = pd.DataFrame({"text": docs[:6]})
    b = pd.DataFrame({"text": docs[6:12]})
    alone = bundle.predict(a)["spans"].tolist()
    task = bundle.task
    in_a, _ = task.encode(a, "a")
    in_b, _ = task.encode(b, "b")
    out_a = bundle.outputs(in_a)
    bundle.outputs(in_b)  # another request's batch runs in between
    assert task.predictions_for(in_a, out_a)["spans"].tolist() == alone


def test_reload_gives_identical_predictions_and_exact_offsets(trained):
    tmp, bundle, test_file = trained
    docs = [json.loads(line) for line in test_file.read_text().splitlines()]
    df = pd.DataFrame({"text": [d["text"] for d in docs]})
    first = bundle.predict(df)
    again = load_bundle(bundle.path).predict(df)
    assert first["spans"].tolist() == again["spans"].tolist()
    assert (first["error"] == "").all()
    exact = total = 0
    for doc, spans in zip(docs, first["spans"], strict=True):
        gold = {(s["start"], s["end"], s["label"]) for s in doc["spans"]}
        for s in json.loads(spans):
            assert 0 <= s["start"] < s["end"] <= len(doc["text"])
            piece = doc["text"][s["start"]:s["end"]]
            assert piece == piece.strip() and piece  # whole tokens of the original text
            assert 0.0 <= s["score"] <= 1.0
            exact += (s["start"], s["end"], s["label"]) in gold
            total += 1
    assert total and exact / total >= 0.85


def test_report_has_the_per_label_table(trained):
    _, bundle, _ = trained
    html = (bundle.path / "report.html").read_text(encoding="utf-8")
    assert "Entities by label" in html and "span F1" in html
    report = json.loads((bundle.path / "report.json").read_text())
    assert "ner_labels" in json.dumps(report)
    state = json.loads((bundle.path / "task.json").read_text())
    assert state["labels"] == ["DATE", "ID", "NAME"] and state["deid_labels"]["NAME"] == "NAME"


def test_evaluate_on_annotated_data(trained, tmp_path):
    _, bundle, test_file = trained
    res = healthnn.evaluate(bundle.path, test_file, tmp_path / "ev")
    assert res.n_rows == 24 and res.n_errors == 0
    assert res.metrics["test"]["span_f1"]["value"] == pytest.approx(
        bundle.metrics["test"]["span_f1"]["value"])
    assert (tmp_path / "ev" / "report.html").is_file()


def test_config_errors(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", ner_notes(6))
    cfg = ner_config(train)
    cfg["train"]["monitor"] = "auroc"
    with pytest.raises(ConfigError, match="train.monitor"):
        healthnn.train(cfg, tmp_path / "b")
    for key, value in (("overlap", 30), ("o_weight", 0.0), ("empty_windows", 1.5),
                       ("max_length", 4)):
        with pytest.raises(ConfigError, match=f"data.{key}"):
            healthnn.train(ner_config(train, **{key: value}), tmp_path / "b")


def test_each_call_decodes_its_own_texts(trained):
    _, bundle, _ = trained
    a = bundle.predict(pd.DataFrame({"text": ["Pt John Smith seen"]}))
    b = bundle.predict(pd.DataFrame({"text": ["BP is 120 today"]}))  # same number of tokens
    assert json.loads(a["spans"][0]) and json.loads(b["spans"][0]) == []
