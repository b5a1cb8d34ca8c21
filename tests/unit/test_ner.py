"""NER readers (BRAT folder, .tar.gz, span JSONL), span metrics, tokenisation and decoding."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from healthnn.errors import DataError
from healthnn.metrics.spans import bio_to_spans, span_metrics, token_metrics
from healthnn.tasks.ner import _viterbi, _viterbi_many, tokenize, window_starts
from healthnn.text.annotations import read_annotations

MEDDOCAN = Path(__file__).resolve().parents[1] / "data" / "ner" / "meddocan_sample.tar.gz"

TEXT = "Seen by Dr Smith on 3/14.\nMRN 12345."
ANN = "T1\tNAME 11 16\tSmith\nT2\tDATE 20 24\t3/14\n#1\tAnnotatorNotes T1\tcheck\nT3\tID 30 35\t12345\n"


def brat_folder(tmp_path: Path, ann: str = ANN, text: str = TEXT) -> Path:
    d = tmp_path / "brat"
    d.mkdir(exist_ok=True)
    (d / "a.txt").write_text(text, encoding="utf-8")
    (d / "a.ann").write_text(ann, encoding="utf-8")
    return d


# -- readers -----------------------------------------------------------------------------------
def test_brat_folder(tmp_path):
    df, notes = read_annotations(brat_folder(tmp_path))
    assert df["id"].tolist() == ["a"]
    spans = df["spans"][0]
    assert [(s["start"], s["end"], s["label"]) for s in spans] == [
        (11, 16, "NAME"), (20, 24, "DATE"), (30, 35, "ID")]
    assert any("non-entity" in n for n in notes)
    for s in spans:
        assert TEXT[s["start"]:s["end"]] in ("Smith", "3/14", "12345")


def test_brat_tar_read_without_unpacking(tmp_path):
    path = tmp_path / "corpus.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("corpus/brat/a.txt", TEXT), ("corpus/brat/a.ann", ANN)):
            raw = data.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    df, _ = read_annotations(path)
    assert len(df) == 1 and len(df["spans"][0]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.tar.gz"]  # nothing unpacked


def test_meddocan_sample_reads():
    df, notes = read_annotations(MEDDOCAN)
    assert len(df) == 20
    labels = {s["label"] for spans in df["spans"] for s in spans}
    assert {"FECHAS", "NOMBRE_SUJETO_ASISTENCIA", "TERRITORIO"} <= labels
    for text, spans in zip(df["text"], df["spans"], strict=True):
        assert all(0 <= s["start"] < s["end"] <= len(text) for s in spans)


@pytest.mark.parametrize("ann, message, line", [
    ("T1\tNAME 11 99\tSmith\n", "outside the text", 1),
    ("T1\tNAME 11 16\tSmith\nT2\tNAME 10 15\tSmith\n", "does not match", 2),
    ("T1\tNAME eleven 16\tSmith\n", "not 'start end' integers", 1),
    ("\nT1\tNAME\n", "expected 'LABEL start end'", 2),
])
def test_brat_bad_annotations_name_file_and_line(tmp_path, ann, message, line):
    with pytest.raises(DataError) as e:
        read_annotations(brat_folder(tmp_path, ann))
    assert message in str(e.value)
    assert "a.ann" in str(e.value) and f"row {line}" in str(e.value)


def test_brat_overlap_and_discontinuous_reported(tmp_path):
    ann = ("T1\tNAME 8 16\tDr Smith\nT2\tNAME 11 16\tSmith\n"
           "T3\tID 30 32;33 35\t12 45\n")
    df, notes = read_annotations(brat_folder(tmp_path, ann))
    spans = [(s["start"], s["end"], s["label"]) for s in df["spans"][0]]
    assert spans == [(8, 16, "NAME"), (30, 32, "ID"), (33, 35, "ID")]
    assert any("line 2" in n and "overlaps" in n and "line 1" in n for n in notes)
    assert any("line 3" in n and "discontinuous" in n for n in notes)


def test_brat_missing_ann_and_bad_utf8(tmp_path):
    d = brat_folder(tmp_path)
    (d / "b.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="no .ann file"):
        read_annotations(d)
    (d / "b.ann").write_bytes(b"T1\tNAME 0 1\t\xff\n")
    with pytest.raises(DataError, match="invalid UTF-8"):
        read_annotations(d)


def test_span_jsonl_and_its_errors(tmp_path):
    p = tmp_path / "d.jsonl"
    good = {"id": 1, "text": "Dr Smith", "spans": [{"start": 3, "end": 8, "label": "NAME"}]}
    p.write_text(json.dumps(good) + "\n")
    df, _ = read_annotations(p)
    assert df["id"].tolist() == ["1"]
    bad_lines = [
        ({"text": "ab", "spans": [{"start": 0, "end": 9, "label": "X"}]}, "outside the text"),
        ({"text": "ab", "spans": [{"start": 0, "end": 1}]}, "needs start, end and label"),
        ({"spans": []}, "no 'text'"),
        ({"text": "ab", "spans": [{"start": 0, "end": 2, "label": "X", "text": "zz"}]},
         "does not match"),
    ]
    for rec, message in bad_lines:
        p.write_text(json.dumps(good) + "\n" + json.dumps(rec) + "\n")
        with pytest.raises(DataError, match=message) as e:
            read_annotations(p)
        assert "row 2" in str(e.value) and "d.jsonl" in str(e.value)
    p.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match="row 2"):
        read_annotations(p)
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_annotations(p)


# -- metrics ----------------------------------------------------------------------------------
def test_span_metrics_hand_computed():
    gold = [[(0, 5, "NAME"), (10, 14, "DATE"), (20, 25, "NAME")], [(0, 3, "ID")]]
    pred = [[(0, 5, "NAME"), (10, 13, "DATE"), (20, 25, "DATE")], [(0, 3, "ID"), (5, 7, "ID")]]
    m = span_metrics(gold, pred)
    # tp: (0,5,NAME), (0,3,ID) = 2; fp: (10,13,DATE), (20,25,DATE), (5,7,ID) = 3; fn: 2
    assert m["precision"] == pytest.approx(2 / 5)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 3 + 2))
    assert m["recall_NAME"] == pytest.approx(0.5) and m["precision_NAME"] == 1.0
    assert m["precision_DATE"] == 0.0 and m["recall_DATE"] == 0.0
    assert m["precision_ID"] == pytest.approx(0.5) and m["recall_ID"] == 1.0


def test_token_metrics_match_sklearn(rng):
    from sklearn.metrics import precision_recall_fscore_support

    labels = ["A", "B"]
    n = 60
    tokens = [(2 * i, 2 * i + 1) for i in range(n)]
    g_tok = rng.choice(["O", "A", "B"], n, p=[0.5, 0.25, 0.25])
    p_tok = np.where(rng.random(n) < 0.7, g_tok, rng.choice(["O", "A", "B"], n))
    gold = [[(a, b, lab) for (a, b), lab in zip(tokens, g_tok, strict=True) if lab != "O"]]
    pred = [[(a, b, lab) for (a, b), lab in zip(tokens, p_tok, strict=True) if lab != "O"]]
    m = token_metrics(gold, pred, [tokens], labels)
    p, r, f, _ = precision_recall_fscore_support(g_tok, p_tok, labels=labels, average="micro")
    assert (m["token_precision"], m["token_recall"], m["token_f1"]) == pytest.approx((p, r, f))
    p, r, f, _ = precision_recall_fscore_support(g_tok, p_tok, labels=labels, average=None)
    assert m["token_f1_A"] == pytest.approx(f[0]) and m["token_recall_B"] == pytest.approx(r[1])


def test_bio_to_spans_reads_as_conlleval():
    assert bio_to_spans(["B-X", "I-X", "I-Y", "O", "I-X", "I-X", "B-X"]) == [
        (0, 2, "X"), (2, 3, "Y"), (4, 6, "X"), (6, 7, "X")]
    assert bio_to_spans([]) == []


# -- tokens, windows, decoding ----------------------------------------------------------------
def test_tokens_keep_offsets():
    text = "Lasix 40mg at 14:30; BP 120/80\nMr. O'Brien"
    t = tokenize(text)
    assert [text[a:b] for a, b in t][:6] == ["Lasix", "40", "mg", "at", "14", ":"]
    assert all(text[a:b].strip() == text[a:b] != "" for a, b in t)


def test_windows_cover_every_token():
    for n in (0, 5, 32, 33, 100, 257):
        starts = window_starts(n, 32, 8)
        covered = set()
        for s in starts:
            covered |= set(range(s, min(s + 32, n)))
        assert covered == set(range(n))


def test_viterbi_never_starts_inside_an_entity():
    # tags O, B-X, I-X: the best unconstrained path would be I-X, I-X
    lp = np.log(np.array([[0.1, 0.2, 0.7], [0.1, 0.2, 0.7]]))
    trans = np.zeros((3, 3))
    trans[0, 2] = -1e9
    first = np.array([0.0, 0.0, -1e9])
    assert _viterbi(lp, trans, first).tolist() == [1, 2]


def test_batched_viterbi_matches_brute_force(rng):
    import itertools

    K = 5  # O, B-X, I-X, B-Y, I-Y
    trans = np.zeros((K, K))
    for i_tag, b_tag in ((2, 1), (4, 3)):
        trans[:, i_tag] = -1e9
        trans[[b_tag, i_tag], i_tag] = 0.0
    first = np.array([0.0, 0.0, -1e9, 0.0, -1e9])
    lps = [np.log(rng.dirichlet(np.ones(K), size=n)) for n in (1, 4, 2, 5, 3, 5)]
    got = _viterbi_many(lps, trans, first, chunk=4)
    for lp, path in zip(lps, got, strict=True):
        def total(p, lp=lp):
            return first[p[0]] + lp[0, p[0]] + sum(trans[a, b] + lp[t + 1, b]
                                                  for t, (a, b) in enumerate(zip(p, p[1:])))
        best = max(itertools.product(range(K), repeat=len(lp)), key=total)
        assert tuple(path.tolist()) == best
