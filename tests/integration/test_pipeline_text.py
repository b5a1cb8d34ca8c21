"""Text classification end to end: train -> bundle -> reload -> predict/evaluate/explain, the
TF-IDF baseline, multi-label, de-identification, and every bad input of issue 5."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.errors import DataError
from healthnn.pipeline import evaluate, explain, train
from helpers import TEXT, text_config

pytest.importorskip("tokenizers")

pytestmark = pytest.mark.usefixtures("one_thread")


def _abstracts(n: int = 150) -> pd.DataFrame:
    return pd.read_csv(TEXT / "medical_abstracts_250.csv").head(n)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small GRU bundle on abstracts with an empty text, invalid UTF-8 and a huge text."""
    tmp = tmp_path_factory.mktemp("text")
    df = _abstracts()
    df.loc[3, "text"] = ""
    df.loc[7, "text"] = "very long " + "word " * 50_000
    raw = df.to_csv(index=False).encode("utf-8")
    marker = df.loc[11, "text"][:30].encode("utf-8")
    raw = raw.replace(marker, marker + b" \xff\xfe", 1)  # invalid UTF-8 in row 12
    path = tmp / "train.csv"
    path.write_bytes(raw)
    notes: list[str] = []
    bundle = train(load_config(text_config(path, id="id")), tmp / "b", log=notes.append)
    return tmp, df, bundle, notes


def test_train_notes_metrics_and_baseline(trained):
    tmp, df, bundle, notes = trained
    text = "\n".join(notes)
    assert "1 row(s) with an empty 'text' left out" in text and "rows 4" in text
    assert "row(s) 12: invalid UTF-8" in text
    assert "longer than max_length = 64 tokens" in text
    metrics = json.loads((tmp / "b" / "metrics.json").read_text())
    assert {"accuracy", "f1_macro", "auroc_macro"} <= set(metrics["test"])
    base = metrics["test_baseline_tfidf"]
    # the baseline is scored on the same test rows: its accuracy is a multiple of 1/n_test
    n_test = bundle.manifest["splits"]["test"]["rows"]
    assert base["accuracy"]["ci_low"] <= base["accuracy"]["value"] <= base["accuracy"]["ci_high"]
    assert abs(base["accuracy"]["value"] * n_test - round(base["accuracy"]["value"] * n_test)) < 1e-6
    assert base["accuracy"]["value"] > 0.35  # 5 balanced classes: chance is 0.2
    report = json.loads((tmp / "b" / "report.json").read_text())
    assert "wordlevel" in report["facts"]["predictors"][0]  # the default: repeats exactly
    state = json.loads((tmp / "b" / "task.json").read_text())
    assert json.loads(state["tokenizer"])["model"]["type"] == "WordLevel"
    assert not any(p.suffix in (".pkl", ".pickle") for p in (tmp / "b").iterdir())


def test_report_shows_highlighted_example_notes(trained):
    tmp, _, _, _ = trained
    report = json.loads((tmp / "b" / "report.json").read_text())
    examples = next(sec for sec in report["sections"] if sec["id"] == "examples")
    assert len(examples["plots"]) == 4
    for plot in examples["plots"]:
        assert plot["kind"] == "tokens" and plot["tokens"] and "observed label = " in plot["title"]
    html = (tmp / "b" / "report.html").read_text()
    assert html.count('<figure class="tokens">') == 4 and '<mark class="' in html


def test_reload_predicts_identically_through_bundle_predict(trained):
    tmp, df, bundle, _ = trained
    rows = df.drop(columns="label").head(12).reset_index(drop=True)
    again = load_bundle(tmp / "b")
    p1, p2 = bundle.predict(rows), again.predict(rows)
    pd.testing.assert_frame_equal(p1, p2)
    assert p1.loc[3, "error"] == "column 'text': empty text" and np.isnan(p1.loc[3, "prob_neoplasms"])
    ok = p1["error"] == ""
    assert ok.sum() == 11  # the 250 000-character text is predicted from its first tokens
    # ... and flagged: only its beginning was read (max_length = 64 here)
    assert bool(p1.loc[7, "truncated"]) and not p1.loc[3, "truncated"]
    lengths = rows["text"].str.split().str.len()
    assert not p1.loc[lengths < 20, "truncated"].any()
    probs = p1.loc[ok, [c for c in p1.columns if c.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    saved = pd.read_csv(tmp / "b" / "predictions_test.csv")
    first = saved.iloc[0]
    src = df.drop(columns="label").iloc[[int(first["row"]) - 1]]
    assert again.predict(src)["prediction"].iloc[0] == first["prediction"]


def test_evaluate_reports_unseen_and_missing_labels(trained, tmp_path):
    tmp, df, _, _ = trained
    new = _abstracts(200).tail(40).reset_index(drop=True)
    new.loc[0, "label"] = "ophthalmology"
    new.loc[1, "label"] = None
    new.to_csv(tmp_path / "new.csv", index=False)
    result = evaluate(tmp / "b", tmp_path / "new.csv", tmp_path / "ev")
    assert result.n_rows == 40 and result.n_errors == 2
    err = result.predictions["error"]
    assert "label not seen in training" in err[0] and "no observed outcome" in err[1]
    assert "accuracy" in result.metrics["test"]
    # the TF-IDF baseline is saved in the bundle and scored on the same 38 rows
    base = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test_baseline_tfidf"]
    assert base["accuracy"]["ci_low"] <= base["accuracy"]["value"] <= base["accuracy"]["ci_high"]
    assert abs(base["accuracy"]["value"] * 38 - round(base["accuracy"]["value"] * 38)) < 1e-6


def test_saved_baseline_scores_as_at_training(trained):
    tmp, df, bundle, _ = trained
    rows = df.drop(columns="label").head(20)
    again = load_bundle(tmp / "b")
    np.testing.assert_array_equal(again.task.baseline_probabilities(rows),
                                  bundle.task.baseline_probabilities(rows))


def test_explain_writes_highlighted_html(trained, tmp_path):
    tmp, df, _, _ = trained
    rows = df.drop(columns="label").head(4)  # row 4 has an empty text
    rows.to_csv(tmp_path / "x.csv", index=False)
    written = explain(tmp / "b", tmp_path / "x.csv", tmp_path / "ex", target_class="neoplasms")
    html = (tmp_path / "ex" / "explanations.html").read_text()
    assert html.count("<mark") > 50 and "row 4" in html and "empty text" in html
    assert html.count("<div class='doc'>") == 4
    table = pd.read_csv(tmp_path / "ex" / "attributions.csv")
    assert (table["class"].dropna() == "neoplasms").all()
    # integrated gradients: attributions sum to f(x) - f(baseline) up to a small gap
    assert table["delta"].dropna().abs().max() < 0.05
    assert len(written) == 4
    tokens = pd.read_csv(tmp_path / "ex" / "tokens.csv")  # what the web page highlights
    assert set(tokens["row"]) == {1, 2, 3} and tokens["attribution"].notna().all()
    text = rows["text"].iloc[0]
    first = tokens[tokens["row"] == 1]
    assert all(text[a:b].lower().startswith(t.lstrip("#")[:1].lower())
               for t, a, b in zip(first["token"], first["start"], first["end"], strict=True)
               if b > a and t != "[UNK]")  # a word outside the vocabulary keeps its offsets
    # issue 19 item 13: the note's own words, not lower-cased tokens or [UNK]
    real = first[first["end"] > first["start"]]  # special tokens have no characters
    assert list(real["text"]) == [text[a:b] for a, b in zip(real["start"], real["end"],
                                                             strict=True)]
    words = pd.read_csv(tmp_path / "ex" / "words.csv", keep_default_na=False)
    w1 = words[words["row"] == 1]
    assert list(w1["word"]) == [text[a:b] for a, b in zip(w1["start"], w1["end"], strict=True)]
    assert "[UNK]" not in set(words["word"]) and (w1["tokens"] >= 1).all()
    assert w1["attribution"].sum() == pytest.approx(real["attribution"].sum(), abs=1e-6)
    assert all(w in text for w in table["top_words"].iloc[0].split())
    with pytest.raises(Exception, match="unknown class"):
        explain(tmp / "b", tmp_path / "x.csv", tmp_path / "ex2", target_class="nope")


def test_transformer_multilabel_jsonl(tmp_path):
    df = _abstracts(120)
    rng = np.random.default_rng(0)
    labels = []
    for lab in df["label"]:
        extra = ["adult"] if rng.random() < 0.5 else []
        labels.append([lab.split()[0], *extra])
    with open(tmp_path / "ml.jsonl", "w") as fh:
        for t, lab in zip(df["text"], labels, strict=True):
            fh.write(json.dumps({"text": t, "labels": lab}) + "\n")
    cfg = text_config(tmp_path / "ml.jsonl", model="text_transformer", target="labels",
                      multilabel=True, tokenizer="wordpiece")
    cfg["train"]["monitor"] = "f1_micro"
    bundle = train(load_config(cfg), tmp_path / "b", log=lambda m: None)
    m = bundle.metrics["test"]
    assert {"f1_micro", "f1_macro", "subset_accuracy", "hamming_loss", "auroc_macro"} <= set(m)
    assert "test_baseline_tfidf" in bundle.metrics
    assert len(bundle.task.classes_) == 6
    state = json.loads((tmp_path / "b" / "task.json").read_text())
    assert json.loads(state["tokenizer"])["model"]["type"] == "WordPiece"  # still offered
    pred = load_bundle(tmp_path / "b").predict(df[["text"]].head(5))
    assert {"prob_adult", "prob_neoplasms", "prediction"} <= set(pred.columns)
    pd.testing.assert_frame_equal(pred, bundle.predict(df[["text"]].head(5)))


def test_deidentify_before_training_is_recorded(tmp_path):
    df = _abstracts(60)
    df["text"] = "Seen by Dr. John Smith on 03/04/2019, MRN 12345678. " + df["text"]
    df.to_csv(tmp_path / "d.csv", index=False)
    cfg = text_config(tmp_path / "d.csv", deidentify=True, baseline=False)
    cfg["train"]["epochs"] = 1
    cfg["report"] = {"enabled": False}
    bundle = train(load_config(cfg), tmp_path / "b", log=lambda m: None)
    state = json.loads((tmp_path / "b" / "task.json").read_text())
    assert state["deidentify"]["mode"] == "tag"
    assert state["deidentify"]["training_texts_changed"] >= 40
    vocab = json.loads(state["tokenizer"])["model"]["vocab"]
    assert "smith" not in vocab and "12345678" not in vocab
    assert "test_baseline_tfidf" not in bundle.metrics


def test_deidentified_texts_are_memoised_within_a_bound(tmp_path, monkeypatch):
    """A server de-identifies every request's text: the memo of de-identified texts must not
    grow with the requests (memory, and PHI held longer than needed)."""
    import healthnn.tasks.text as text_module

    df = _abstracts(40)
    df.to_csv(tmp_path / "d.csv", index=False)
    cfg = text_config(tmp_path / "d.csv", deidentify=True, baseline=False)
    cfg["train"]["epochs"] = 1
    cfg["report"] = {"enabled": False}
    train(load_config(cfg), tmp_path / "b", log=lambda m: None)
    bundle = load_bundle(tmp_path / "b")
    monkeypatch.setattr(text_module, "_DEID_CACHE", 4)
    for i in range(12):
        bundle.predict(pd.DataFrame({"text": [f"Seen by Dr. Okafor on 3/{i + 1}/2020. Fine."]}))
    assert len(bundle.task._deid_cache) == 4
    batch = pd.DataFrame({"text": [f"Call 617-555-01{i:02d}." for i in range(10)]})
    assert bundle.predict(batch)["prediction"].notna().all()
    assert len(bundle.task._deid_cache) <= 10


def test_deid_ner_joins_the_rules_and_is_pinned_to_its_bundle(tmp_path):
    """``[data] deid_ner``: a site's NER model removes the names its rules miss, before the
    tokenizer sees them; the text bundle refuses an NER bundle other than its own."""
    import shutil

    from helpers import ner_config, ner_notes

    from healthnn.errors import BundleError

    (tmp_path / "ner.jsonl").write_text("".join(json.dumps(d) + "\n" for d in ner_notes(72)))
    train(load_config(ner_config(tmp_path / "ner.jsonl")), tmp_path / "ner",
          log=lambda m: None)
    invented = ["Zorblat Quenwick", "Farnel Oxtrude", "Pellwin Drasco"]  # in no name list
    df = _abstracts(60)
    df["text"] = [f"Pt {invented[i % 3]} seen on 4/12/2019 by Dr. Vexmor.\n{t}"
                  for i, t in enumerate(df["text"])]
    df.to_csv(tmp_path / "d.csv", index=False)

    def vocab(cfg_data: dict, out: str) -> dict:
        cfg = text_config(tmp_path / "d.csv", deidentify=True, baseline=False, **cfg_data)
        cfg["train"]["epochs"] = 1
        cfg["report"] = {"enabled": False}
        train(load_config(cfg), tmp_path / out, log=lambda m: None)
        state = json.loads((tmp_path / out / "task.json").read_text())
        return state, json.loads(state["tokenizer"])["model"]["vocab"]

    _, rules_only = vocab({}, "rules")
    assert {"zorblat", "quenwick", "oxtrude"} <= set(rules_only)  # the rules cannot know them
    state, with_ner = vocab({"deid_ner": str(tmp_path / "ner")}, "b")
    assert not {"zorblat", "quenwick", "farnel", "oxtrude", "pellwin", "drasco"} & set(with_ner)
    assert state["deidentify"]["ner"]["bundle"] == str((tmp_path / "ner").resolve())
    assert len(state["deidentify"]["ner"]["sha256"]) == 64

    bundle = load_bundle(tmp_path / "b")
    abstracts = list(_abstracts(3)["text"])

    def predict(names: list[str]) -> pd.DataFrame:
        rows = [f"Pt {n} seen on 4/12/2019 by Dr. Vexmor.\n{t}" for n, t in zip(names, abstracts)]
        return bundle.predict(pd.DataFrame({"text": rows})).filter(like="prob_")

    # the names are removed before the model reads the text (the rules-only model has them
    # in its vocabulary, so there the order of the names changes the predictions)
    pd.testing.assert_frame_equal(predict(invented), predict(invented[1:] + invented[:1]))
    rules = load_bundle(tmp_path / "rules")
    rows = [f"Pt {n} seen on 4/12/2019 by Dr. Vexmor.\n{t}" for n, t in zip(invented, abstracts)]
    swapped = [f"Pt {n} seen on 4/12/2019 by Dr. Vexmor.\n{t}"
               for n, t in zip(invented[1:] + invented[:1], abstracts)]
    assert not np.allclose(rules.predict(pd.DataFrame({"text": rows})).filter(like="prob_"),
                           rules.predict(pd.DataFrame({"text": swapped})).filter(like="prob_"))

    other = ner_config(tmp_path / "ner.jsonl")
    other["train"]["seed"] = 1
    shutil.rmtree(tmp_path / "ner")
    with pytest.raises(BundleError, match="deid_ner is not there"):
        load_bundle(tmp_path / "b")
    train(load_config(other), tmp_path / "ner", log=lambda m: None)
    with pytest.raises(BundleError, match="not the one this model was trained with"):
        load_bundle(tmp_path / "b")


def test_deid_ner_needs_deidentify(tmp_path):
    from healthnn.errors import ConfigError

    cfg = text_config(tmp_path / "d.csv", deid_ner="runs/ner")
    with pytest.raises(ConfigError, match="set deidentify = true"):
        train(load_config(cfg), tmp_path / "b")


@pytest.mark.parametrize("change, message", [
    (lambda df: df.assign(label=df["label"].where(df.index != 5, None)),
     r"row\(s\) have no value in 'label'; the first is row 6"),
    (lambda df: df.assign(label="neoplasms"), r"single class \('neoplasms'\)"),
    (lambda df: df.assign(text=""), "every text is empty"),
    (lambda df: df.rename(columns={"text": "body"}), "column 'text': column not found"),
])
def test_bad_training_input(tmp_path, change, message):
    change(_abstracts(40)).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=message):
        train(load_config(text_config(tmp_path / "d.csv")), tmp_path / "b", log=lambda m: None)


def test_config_errors():
    from healthnn.errors import ConfigError

    with pytest.raises(ConfigError, match="max_positions"):
        load_config(text_config(TEXT / "x.csv", model="text_transformer", max_length=1024))
    with pytest.raises(ConfigError, match="did you mean 'max_length'"):
        load_config(text_config(TEXT / "x.csv", max_lenght=10))
    with pytest.raises(ConfigError, match="multi-label"):
        load_config({**text_config(TEXT / "x.csv", multilabel=True),
                     "train": {"monitor": "auroc"}})
