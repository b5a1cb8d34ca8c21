"""`healthnn train/predict/evaluate` with task 'ner', and `healthnn deid --ner`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import ner_config, ner_notes

from healthnn.cli import main
from healthnn.config import to_toml
from healthnn.privacy.deid import Deidentifier, union_spans
from healthnn.tasks.ner import NerTagger

MEDDOCAN = Path(__file__).resolve().parents[1] / "data" / "ner" / "meddocan_sample.tar.gz"
NEW_NAME = "Zorblat Quenwick"  # in no name list: the rules cannot know it, the NER learned 'Pt X Y'
NOTES = [
    f"Pt {NEW_NAME} seen on 4/12/2019 by Dr. Vexmor. BP 120/80, HR 77.\n",
    "",
    "MRN 554433\nQuenwick admitted 5/1/2020; given Lasix 40 mg. Dr. Smith aware.\n",
]


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner_cli")
    train = tmp / "train.jsonl"
    train.write_text("".join(json.dumps(d) + "\n" for d in ner_notes(72, seed=0)))
    cfg = tmp / "ner.toml"
    cfg.write_text(to_toml(ner_config(train)), encoding="utf-8")
    assert main(["train", str(cfg), "--out", str(tmp / "bundle")]) == 0
    return tmp / "bundle"


def test_predict_writes_span_jsonl_for_csv_and_txt_folders(bundle, tmp_path, capsys):
    src = tmp_path / "notes.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "text": NOTES}).to_csv(src, index=False)
    code, out, err = cli(capsys, "predict", bundle, src, "--out", tmp_path / "spans.jsonl")
    assert code == 0, err
    lines = [json.loads(x) for x in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c"] and lines[1]["spans"] == []
    for note, line in zip(NOTES, lines, strict=True):
        for s in line["spans"]:
            assert set(s) == {"start", "end", "label", "score"}
            assert note[s["start"]:s["end"]].strip() == note[s["start"]:s["end"]] != ""
    found = {NOTES[0][s["start"]:s["end"]] for s in lines[0]["spans"]}
    assert NEW_NAME in found and "4/12/2019" in found
    assert "120/80" not in found and "77" not in found  # vital signs are not PHI
    assert NEW_NAME not in out + err  # no text in the console

    folder = tmp_path / "txt"
    folder.mkdir()
    for i, note in enumerate(NOTES):
        (folder / f"n{i}.txt").write_text(note, encoding="utf-8")
    code, out, err = cli(capsys, "predict", bundle, folder, "--out", tmp_path / "t.jsonl")
    assert code == 0, err
    again = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [x["spans"] for x in again] == [x["spans"] for x in lines]

    src = tmp_path / "notes.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(NOTES)))
    code, out, err = cli(capsys, "predict", bundle, src, "--out", tmp_path / "j.jsonl")
    assert code == 0, err
    again = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert [x["spans"] for x in again] == [x["spans"] for x in lines]


def test_evaluate_on_annotated_jsonl(bundle, tmp_path, capsys):
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(d) + "\n" for d in ner_notes(12, seed=5)))
    code, out, err = cli(capsys, "evaluate", bundle, test, "--out", tmp_path / "ev")
    assert code == 0, err
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["test"]["span_f1"]["value"] > 0.8


@pytest.mark.parametrize("workers", ["1", "2"])
def test_deid_with_ner_merges_spans(bundle, tmp_path, capsys, workers):
    src, dst, spans = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "spans.jsonl"
    pd.DataFrame({"id": [1, 2, 3], "text": NOTES}).to_csv(src, index=False)
    code, out, err = cli(capsys, "deid", src, "--out", dst, "--ner", bundle, "--spans", spans,
                         "--workers", workers)
    assert code == 0, err
    got = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert got["id"].tolist() == ["1", "2", "3"] and got["text"][1] == ""
    assert "Zorblat" not in got["text"][0] and "Quenwick" not in got["text"][2]
    assert "BP 120/80" in got["text"][0] and "Lasix 40 mg" in got["text"][2]
    rules, tagger = Deidentifier(), NerTagger(bundle, deid=True)
    for note, line in zip(NOTES, spans.read_text().splitlines(), strict=True):
        merged = [(s["start"], s["end"], s["label"]) for s in json.loads(line)["spans"]]
        expected = union_spans([(s.start, s.end, s.label, s.score) for s in rules.find(note)]
                               + tagger.find(note))
        assert merged == [(s, e, lab) for s, e, lab, _ in expected]
        covered = {i for s, e, _ in merged for i in range(s, e)}
        for s, e, *_ in tagger.find(note) + [(x.start, x.end) for x in rules.find(note)]:
            assert set(range(s, e)) <= covered  # union: nothing either engine found is lost


def test_deid_ner_rejects_a_bundle_of_another_task(tmp_path, capsys):
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": NOTES}).to_csv(src, index=False)
    code, _, err = cli(capsys, "deid", src, "--out", tmp_path / "o.csv", "--ner", tmp_path)
    assert code == 2 and "bundle" in err and "Traceback" not in err


def test_train_on_a_brat_archive(tmp_path, capsys):
    cfg = ner_config(MEDDOCAN)
    cfg["train"]["epochs"] = 1
    path = tmp_path / "med.toml"
    path.write_text(to_toml(cfg), encoding="utf-8")
    code, out, err = cli(capsys, "train", path, "--out", tmp_path / "b")
    assert code == 0, err
    state = json.loads((tmp_path / "b" / "task.json").read_text())
    assert "NOMBRE_SUJETO_ASISTENCIA" in state["labels"]
    assert state["deid_labels"]["NOMBRE_SUJETO_ASISTENCIA"] == "NAME"
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["test"]["span_f1"]


def test_predict_bad_input_is_one_clear_line(bundle, tmp_path, capsys):
    src = tmp_path / "notes.csv"
    pd.DataFrame({"note": NOTES}).to_csv(src, index=False)
    code, _, err = cli(capsys, "predict", bundle, src, "--out", tmp_path / "s.jsonl")
    assert code == 2 and "column 'text'" in err and "Traceback" not in err
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"Pt Zorblat Quenwick seen \xff on 4/12/2019.")
    (folder / "b.txt").write_text(NOTES[2], encoding="utf-8")
    code, _, err = cli(capsys, "predict", bundle, folder, "--out", tmp_path / "t.jsonl")
    assert code == 0 and "U+FFFD" in err and "Zorblat" not in err
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["spans"]  # no row lost


def test_deid_ner_min_score_keeps_only_confident_spans(bundle, tmp_path, capsys):
    src, spans = tmp_path / "in.csv", tmp_path / "spans.jsonl"
    pd.DataFrame({"text": NOTES}).to_csv(src, index=False)
    code, _, err = cli(capsys, "deid", src, "--out", tmp_path / "o.csv", "--ner", bundle,
                       "--ner-min-score", "1.01", "--spans", spans, "--workers", "1")
    assert code == 0, err
    rules = Deidentifier()
    for note, line in zip(NOTES, spans.read_text().splitlines(), strict=True):
        got = [(s["start"], s["end"], s["label"]) for s in json.loads(line)["spans"]]
        assert got == [(s.start, s.end, s.label) for s in rules.find(note)]  # no NER span left
