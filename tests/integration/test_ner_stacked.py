"""Issue 3: the stacked NER (the rules' spans as input features, ``[data] rule_features``) and
the operating point of ``healthnn deid --ner`` chosen on validation (``[data] target_precision``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import ner_config, ner_notes

import healthnn
from healthnn.bundle import load_bundle
from healthnn.cli import main
from healthnn.errors import ConfigError, DataError
from healthnn.privacy._deid_rules import detect
from healthnn.privacy.deid import Deidentifier, union_spans
from healthnn.tasks.ner import (
    NerTagger,
    _operating_table,
    _rule_tags,
    _unknown_word,
    choose_operating_point,
    tokenize,
)

NOTES = [
    "Pt Zorblat Quenwick seen on 4/12/2019 by Dr. Vexmor. BP 120/80, HR 77.\n",
    "",
    "MRN 554433\nQuenwick admitted 5/1/2020; given Lasix 40 mg. Dr. Smith aware.\n",
    "Mr. John Smith called from Boston on March 3 about his 1998 surgery.",
]


def write_jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner_stacked")
    train = write_jsonl(tmp / "train.jsonl", ner_notes(60, seed=0))
    test = write_jsonl(tmp / "test.jsonl", ner_notes(12, seed=1))
    cfg = ner_config(train, test=str(test), group="patient", rule_features=True,
                     rule_keep_year=False, target_precision=0.6)
    cfg["train"]["epochs"] = 8
    bundle = healthnn.train(cfg, tmp / "bundle", log=lambda m: None)
    return tmp, bundle


def test_rule_features_are_the_rules_spans_and_unknown_words(stacked):
    _, bundle = stacked
    task = bundle.task
    text = NOTES[3]
    inputs = task.encode_texts([text])
    toks = inputs.tokens[0]
    w = inputs.windows[0, :len(toks)].numpy()
    assert inputs.windows.shape[-1] == 5 + task.config.data.max_chars
    rules = detect(text, keep_year=False)  # the bundle's rule setting: years removed
    assert any(text[s:e] == "1998" for s, e, *_ in rules)
    assert w[:, 3].tolist() == _rule_tags(rules, toks).tolist()
    inside = {i for s, e, *_ in rules for i, (a, b) in enumerate(toks) if a < e and b > s}
    assert {i for i in range(len(toks)) if w[i, 3] > 1} == inside and inside
    for i, (a, b) in enumerate(toks):
        assert w[i, 4] == (2 if _unknown_word(text[a:b]) else 1)
    assert _unknown_word("Zorblat") and not _unknown_word("Parkinson")
    # rules handed in by the caller give the same windows
    again = task.encode_texts([text], [rules])
    assert np.array_equal(again.windows.numpy(), inputs.windows.numpy())


def test_stacked_bundle_reloads_to_identical_predictions(stacked):
    _, bundle = stacked
    df = pd.DataFrame({"text": NOTES})
    first = bundle.predict(df)["spans"].tolist()
    again = load_bundle(bundle.path)
    assert again.task.config.data.rule_features and not again.task.config.data.rule_keep_year
    assert again.predict(df)["spans"].tolist() == first
    tagger = NerTagger(bundle.path, min_score=0.0)
    for note, spans in zip(NOTES, first, strict=True):
        expected = [(s["start"], s["end"], s["label"], s["score"]) for s in json.loads(spans)]
        assert tagger.find(note) == expected
        assert tagger.find(note, detect(note, keep_year=False)) == expected
    assert bundle.metrics["test"]["token_recall"]["value"] >= 0.9


def test_operating_point_is_chosen_on_validation_and_saved(stacked):
    _, bundle = stacked
    state = json.loads((bundle.path / "task.json").read_text())
    op = state["operating_point"]
    assert op["kind"] == "ner" and op["chosen_on"] == "val"
    assert op["combine"] == "union" and 0.0 <= op["min_score"] <= 1.0  # target_combine union
    assert op["target_precision"] == 0.6 and op["met"] and op["precision"] >= 0.6
    summary = bundle.manifest["operating_point"]
    assert set(summary["test"]) == {"precision", "recall", "documents"}
    assert summary["test"]["documents"] == 12
    tagger = NerTagger(bundle.path)  # min_score None: the bundle's operating point
    tagger_default = NerTagger(bundle.path, min_score=None)
    assert tagger.min_score == 0.0 and tagger_default.min_score == op["min_score"]
    html = (bundle.path / "report.html").read_text(encoding="utf-8")
    assert "Operating point (healthnn deid --ner)" in html


def test_deid_uses_the_operating_point_unless_told_otherwise(stacked):
    _, bundle = stacked
    op = json.loads((bundle.path / "task.json").read_text())["operating_point"]
    plain = NerTagger(bundle.path, deid=True, min_score=0.0)
    rules = Deidentifier()
    default = Deidentifier(ner=bundle.path)
    assert default.ner_combine == op["combine"] and default.ner.min_score == op["min_score"]
    alone = Deidentifier(ner=bundle.path, ner_combine="ner", ner_min_score=0.0)
    union = Deidentifier(ner=bundle.path, ner_combine="union", ner_min_score=0.5)
    for note in NOTES:
        found = plain.find(note)
        got = [(s.start, s.end, s.label, s.score) for s in alone.find(note)]
        assert [g[:3] for g in got] == [f[:3] for f in found]  # the NER's spans alone
        base = [(s.start, s.end, s.label, s.score) for s in rules.find(note)]
        got = [(s.start, s.end, s.label) for s in union.find(note)]
        kept = [f for f in found if f[3] >= 0.5]
        assert got == [u[:3] for u in union_spans(base + kept)]
        kept = [f for f in found if f[3] >= op["min_score"]]
        expected = union_spans(base + kept) if op["combine"] == "union" else kept
        assert [(s.start, s.end, s.label) for s in default.find(note)] == [e[:3] for e in expected]
    with pytest.raises(DataError):
        Deidentifier(ner=bundle.path, ner_combine="both")
    with pytest.raises(DataError):
        Deidentifier(ner=bundle.path, ner_min_score=-0.1)


def test_cli_deid_ner_combine_and_override(stacked, tmp_path, capsys):
    _, bundle = stacked
    src, spans = tmp_path / "in.csv", tmp_path / "spans.jsonl"
    pd.DataFrame({"text": NOTES}).to_csv(src, index=False)
    code = main(["deid", str(src), "--out", str(tmp_path / "o.csv"), "--ner", str(bundle.path),
                 "--ner-combine", "ner", "--ner-min-score", "0", "--spans", str(spans),
                 "--workers", "1"])
    _, err = capsys.readouterr()
    assert code == 0, err
    tagger = NerTagger(bundle.path, deid=True, min_score=0.0)
    for note, line in zip(NOTES, spans.read_text().splitlines(), strict=True):
        got = [(s["start"], s["end"], s["label"]) for s in json.loads(line)["spans"]]
        assert got == [f[:3] for f in tagger.find(note)]
    with pytest.raises(SystemExit) as exc:  # argparse: usage and one line, exit code 2
        main(["deid", str(src), "--out", str(tmp_path / "p.csv"), "--ner", str(bundle.path),
              "--ner-combine", "all"])
    _, err = capsys.readouterr()
    assert exc.value.code == 2 and "--ner-combine" in err and "Traceback" not in err
    code = main(["deid", str(src), "--out", str(tmp_path / "q.csv"), "--ner", str(bundle.path),
                 "--ner-min-score", "-1"])
    _, err = capsys.readouterr()
    assert code == 2 and "--ner-min-score" in err and "Traceback" not in err


def test_target_precision_is_checked(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", ner_notes(6, seed=0))
    cfg = ner_config(train, target_precision=1.5)
    with pytest.raises(ConfigError, match="target_precision"):
        healthnn.train(cfg, tmp_path / "b", log=lambda m: None)
    cfg = ner_config(train, target_precision=0.9, target_combine="ner")
    with pytest.raises(ConfigError, match="target_combine"):
        healthnn.train(cfg, tmp_path / "c", log=lambda m: None)


def _brute_force(texts, gold, rules, ner, combine, t):
    """Token precision and recall as bench/deid_physionet.py counts them, one token at a time."""
    tp = n_pred = n_gold = 0
    for text, g, r, n in zip(texts, gold, rules, ner, strict=True):
        spans = ([sp for sp in n if sp[3] >= t] if combine != "rules" else []) + (
            list(r) if combine in ("union", "rules") else [])
        for a, b in tokenize(text):
            if not text[a].isalnum():
                continue
            is_gold = any(a < e and b > s for s, e, *_ in g)
            is_pred = any(a < e and b > s for s, e, *_ in spans)
            tp += is_gold and is_pred
            n_pred += is_pred
            n_gold += is_gold
    return (tp / n_pred if n_pred else float("nan")), (tp / n_gold if n_gold else float("nan"))


def test_operating_table_matches_brute_force_and_the_choice_is_the_best_row(rng):
    texts, gold, rules, ner = [], [], [], []
    for _ in range(6):
        text = " ".join(rng.choice(["Dr", "Smith", "seen", "3/14", "BP", "120/80", ",", "Lasix",
                                    "MRN", "55443"], size=int(rng.integers(5, 25))))
        toks = tokenize(text)

        def random_spans(k, scored):
            out = []
            for _ in range(k):
                i = int(rng.integers(0, len(toks)))
                j = min(len(toks), i + int(rng.integers(1, 3)))
                sp = (int(toks[i, 0]), int(toks[j - 1, 1]), "NAME")
                out.append(sp + (round(float(rng.random()), 2),) if scored else sp)
            return out

        texts.append(text)
        gold.append(random_spans(3, False))
        rules.append(random_spans(2, False))
        ner.append(random_spans(3, True))
    scores = [0.0, 0.25, 0.5, 0.75, 1.0]
    table = _operating_table(texts, gold, rules, ner, scores=scores)
    assert len(table) == 2 * len(scores) + 1 and table["combine"].iloc[-1] == "rules"
    for row in table.to_dict("records"):
        p, r = _brute_force(texts, gold, rules, ner, row["combine"], row["min_score"])
        np.testing.assert_allclose([row["precision"], row["recall"]], [p, r], equal_nan=True)
    floor = float(table["recall"].iloc[-1])  # the rules alone
    cand = table.iloc[:-1]
    target = float(np.nanmin(cand["precision"]))
    op = choose_operating_point(table, target)
    ok = cand[(cand["precision"] >= target) & (cand["recall"] >= floor)]
    assert op["met"] and op["precision"] >= target - 1e-4 and op["recall"] >= floor - 1e-4
    assert op["recall"] == pytest.approx(ok["recall"].max(), abs=1e-4)
    none = choose_operating_point(table, 1.01)
    union = cand[cand["combine"] == "union"]
    assert not none["met"] and none["combine"] == "union"
    assert none["precision"] == pytest.approx(union["precision"].max(), abs=1e-4)


def test_the_choice_never_falls_below_the_rules_recall():
    """A NER-alone row that reaches the target precision with less recall than the rules
    alone is not chosen; with no union row at the target, the most precise union row is."""
    table = pd.DataFrame([
        {"combine": "union", "min_score": 0.5, "precision": 0.85, "recall": 0.97},
        {"combine": "union", "min_score": 0.9, "precision": 0.88, "recall": 0.95},
        {"combine": "ner", "min_score": 0.5, "precision": 0.95, "recall": 0.80},
        {"combine": "rules", "min_score": float("nan"), "precision": 0.87, "recall": 0.94},
    ])
    op = choose_operating_point(table, 0.9)
    assert (op["combine"], op["min_score"], op["met"]) == ("union", 0.9, False)
    table.loc[2, "recall"] = 0.96  # now the NER alone finds more than the rules: chosen
    op = choose_operating_point(table, 0.9)
    assert (op["combine"], op["min_score"], op["met"]) == ("ner", 0.5, True)
