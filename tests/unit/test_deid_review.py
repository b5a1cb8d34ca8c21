"""``healthnn deid-review``: sampling, the review folder, scoring and its errors (issue 18)."""

from __future__ import annotations

import json
import re
import stat

import pandas as pd
import pytest

from healthnn.errors import DataError
from healthnn.privacy.review import sample_for_review, stratified_counts
from healthnn.privacy.review_page import highlight, review_html
from healthnn.privacy.review_score import score_review
from healthnn.text.annotations import brat_entities, read_annotations

TYPES = ["discharge", "message", "referral"]


def notes_csv(path, n=30):
    rows = []
    for i in range(n):
        t = TYPES[i % 3]
        text = (f"Seen by Dr. Haverford on 3/{i % 27 + 1}/2021. Call 617-555-01{i % 90:02d}."
                + " Stable." * (i % 5))
        rows.append({"note_id": f"MRN{i:05d}", "type": t, "text": text})
    rows.append({"note_id": "MRN-empty", "type": "message", "text": ""})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_stratified_counts_proportional_and_bounded():
    assert stratified_counts({"a": 6, "b": 3, "c": 1}, 5) == {"a": 3, "b": 1, "c": 1}
    assert stratified_counts({"a": 6, "b": 3}, 20) == {"a": 6, "b": 3}
    got = stratified_counts({"a": 100, "b": 10, "c": 1}, 2)
    assert got == {"a": 1, "b": 1, "c": 0}
    for n in range(1, 40):
        c = stratified_counts({"a": 17, "b": 11, "c": 2, "d": 1}, n)
        assert sum(c.values()) == min(n, 31)
        assert all(0 <= c[k] <= v for k, v in {"a": 17, "b": 11, "c": 2, "d": 1}.items())


def test_sample_writes_a_private_seeded_stratified_review(tmp_path):
    src = notes_csv(tmp_path / "notes.csv")
    m = sample_for_review(src, tmp_path / "rev", n=9, strata_column="type", seed=3,
                          id_column="note_id")
    rev = tmp_path / "rev"
    assert stat.S_IMODE(rev.stat().st_mode) == 0o700
    assert stat.S_IMODE((rev / "brat").stat().st_mode) == 0o700
    for f in [*rev.iterdir(), *(rev / "brat").iterdir()]:
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not any(p.name.endswith(".partial") for p in rev.rglob("*"))
    assert m["sampled"] == {"discharge": 3, "message": 3, "referral": 3}
    assert m["n_empty_not_sampled"] == 1
    det = [json.loads(x) for x in (rev / "detections.jsonl").read_text().splitlines()]
    assert [d["id"] for d in det] == [f"note-{k:04d}" for k in range(1, 10)]
    # the notes' own ids (record numbers) are kept to find them, but name no file and are
    # neither on the page nor in the annotation files
    src_df = pd.read_csv(src)
    for d in det:
        assert d["source_id"] == src_df["note_id"][d["row"] - 1]
    assert not any("MRN" in p.name for p in rev.rglob("*"))
    for f in ("review.html", "annotations.jsonl"):
        assert "MRN" not in (rev / f).read_text()
    # same seed: same sample; another seed: another one
    again = sample_for_review(src, tmp_path / "rev2", n=9, strata_column="type", seed=3)
    det2 = [json.loads(x) for x in (tmp_path / "rev2" / "detections.jsonl").read_text().splitlines()]
    assert [d["row"] for d in det2] == [d["row"] for d in det] and again["seed"] == 3
    sample_for_review(src, tmp_path / "rev3", n=9, strata_column="type", seed=4)
    det3 = [json.loads(x) for x in (tmp_path / "rev3" / "detections.jsonl").read_text().splitlines()]
    assert sorted(d["row"] for d in det3) != sorted(d["row"] for d in det)
    # both annotation files read back as the detections
    for ann in (rev / "annotations.jsonl", rev / "brat"):
        df, _ = read_annotations(ann)
        got = {i: [(s["start"], s["end"], s["label"]) for s in sp]
               for i, sp in zip(df["id"], df["spans"], strict=True)}
        assert got == {d["id"]: [(s["start"], s["end"], s["label"]) for s in d["spans"]]
                       for d in det}
    with pytest.raises(DataError, match="already holds a review"):
        sample_for_review(src, rev, n=3)


def test_sample_by_length_and_bad_input(tmp_path):
    src = notes_csv(tmp_path / "notes.csv")
    m = sample_for_review(src, tmp_path / "rev", n=8)
    assert m["stratified_by"].startswith("length") and len(m["population"]) >= 2
    assert sum(m["sampled"].values()) == 8
    with pytest.raises(DataError, match="no column 'kind'"):
        sample_for_review(src, tmp_path / "r2", strata_column="kind")
    with pytest.raises(DataError, match="positive"):
        sample_for_review(src, tmp_path / "r3", n=0)
    assert not (tmp_path / "r2").exists()


def test_sample_reads_a_folder_of_txt_and_jsonl(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(5):
        (folder / f"MRN{i}.txt").write_text(f"Seen by Dr. Haverford on 3/{i + 1}/2021." * (i + 1))
    m = sample_for_review(folder, tmp_path / "r1", n=3, seed=1)
    assert m["n_sampled"] == 3 and not any("MRN" in p.name for p in (tmp_path / "r1").rglob("*"))
    rows = [{"text": "Call 617-555-0100.", "kind": "msg"}, {"text": "Pt seen.", "kind": None},
            {"text": "", "kind": "msg"}]
    (tmp_path / "n.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    m = sample_for_review(tmp_path / "n.jsonl", tmp_path / "r2", n=5, strata_column="kind")
    assert m["population"] == {"(none)": 1, "msg": 1} and m["n_empty_not_sampled"] == 1


def test_brat_entities_split_line_breaks():
    text = "Pt Ann\nLee, 3/4/2020"
    ann = brat_entities(text, [{"start": 3, "end": 10, "label": "NAME"},
                            {"start": 12, "end": 20, "label": "DATE"}])
    assert ann == "T1\tNAME 3 6;7 10\tAnn Lee\nT2\tDATE 12 20\t3/4/2020\n"


def test_page_escapes_everything():
    text = "<script>alert(1)</script> Dr \"O'Neil\" & co"
    doc = {"id": "note-0001", "row": 1, "stratum": "<b>x</b>", "text": text,
           "spans": [{"start": 30, "end": 38, "label": "NAME"}]}
    page = review_html([doc], {"stratified_by": "<i>", "seed": 0})
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>x" not in page
    assert "http" not in page.replace("http-equiv", "")  # nothing loaded from anywhere
    assert "O&#x27;Neil" in highlight(text, doc["spans"])


def _review(tmp_path, n=6):
    src = notes_csv(tmp_path / "notes.csv")
    sample_for_review(src, tmp_path / "rev", n=n, strata_column="type", seed=0)
    rev = tmp_path / "rev"
    lines = (rev / "annotations.jsonl").read_text().splitlines()
    return rev, [json.loads(x) for x in lines]


def _write(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_score_counts_a_leak_and_a_false_positive(tmp_path):
    rev, docs = _review(tmp_path)
    first = docs[0]
    text = first["text"]
    # the reviewer adds a PHI the de-identifier missed ("Stable" is not PHI, but is marked
    # as a hospital name by the reviewer for the test) and removes a detection
    k = text.index("Seen")
    first["spans"] = sorted(first["spans"] + [{"start": k, "end": k + 4, "label": "NAME"}],
                            key=lambda s: s["start"])
    removed = docs[1]["spans"].pop(0)
    r = score_review(rev, _write(tmp_path / "done.jsonl", docs), n_resamples=50)
    assert not r["unchanged"]
    n_gold = sum(len(d["spans"]) for d in docs)
    assert r["reviewer_spans"] == n_gold and r["leaked_spans"] == 1
    m = r["metrics"]
    word = re.compile(r"[A-Za-z]+|\d+")
    removed_tokens = len(word.findall(docs[1]["text"][removed["start"]:removed["end"]]))
    gold_tokens = sum(len(word.findall(d["text"][s["start"]:s["end"]]))
                      for d in docs for s in d["spans"])
    assert m["token_recall"]["value"] == pytest.approx((gold_tokens - 1) / gold_tokens)
    assert m["token_precision"]["value"] == pytest.approx(
        (gold_tokens - 1) / (gold_tokens - 1 + removed_tokens))
    words = r["words"]
    assert m["leaks_per_100k_words"]["value"] == pytest.approx(1e5 / words)
    assert m["leaks_per_100k_words_NAME"]["value"] == pytest.approx(1e5 / words)
    lo, hi = m["token_recall"]["ci_low"], m["token_recall"]["ci_high"]
    assert lo <= m["token_recall"]["value"] <= hi and lo < 1.0
    assert r["by_type"]["NAME"]["leaked"] == 1
    page = (rev / "worst_leaks.html").read_text()
    assert page.count("mark class='phi leak") == 1 and "Seen</mark>" in page
    assert stat.S_IMODE((rev / "worst_leaks.html").stat().st_mode) == 0o600
    saved = json.loads((rev / "score.json").read_text())
    assert saved["metrics"]["token_recall"] == m["token_recall"]
    assert "Seen" not in (rev / "score.json").read_text()


def test_score_errors_name_the_note_and_line(tmp_path):
    rev, docs = _review(tmp_path)
    bad = [dict(d) for d in docs]
    bad[2] = dict(bad[2], text=bad[2]["text"] + " ")
    with pytest.raises(DataError, match=r"row 3.*note 'note-0003': its text differs"):
        score_review(rev, _write(tmp_path / "a.jsonl", bad), n_resamples=0)
    bad = [dict(d) for d in docs]
    bad[1] = dict(bad[1], id="note-9999")
    with pytest.raises(DataError, match=r"row 2.*'note-9999' is not one of this review"):
        score_review(rev, _write(tmp_path / "b.jsonl", bad), n_resamples=0)
    with pytest.raises(DataError, match=r"1 sampled note\(s\) are not in the annotations: "
                                        r"note-0006"):
        score_review(rev, _write(tmp_path / "c.jsonl", docs[:-1]), n_resamples=0)
    bad = [dict(d) for d in docs]
    bad[3] = dict(bad[3], spans=[{"start": 0, "end": 10_000, "label": "NAME"}])
    with pytest.raises(DataError, match=r"row 4.*outside the text"):
        score_review(rev, _write(tmp_path / "d.jsonl", bad), n_resamples=0)
    bad = [json.loads(json.dumps(d)) for d in docs]
    sp = bad[4]["spans"][0]
    assert sp["text"] == bad[4]["text"][sp["start"]:sp["end"]]  # prefilled spans show their text
    sp["start"] += 1  # moved, but its text not updated
    with pytest.raises(DataError, match=r"row 5.*span 1: its 'text' does not match"):
        score_review(rev, _write(tmp_path / "e.jsonl", bad), n_resamples=0)
    with pytest.raises(DataError, match="no detections.jsonl"):
        score_review(tmp_path, rev / "annotations.jsonl")
    det = (rev / "detections.jsonl").read_text().splitlines()
    det[1] = det[1][:-5]
    (rev / "detections.jsonl").write_text("\n".join(det) + "\n")
    with pytest.raises(DataError, match=r"detections.jsonl, row 2: damaged line"):
        score_review(rev, rev / "annotations.jsonl")


def test_score_reports_overlapping_reviewer_spans(tmp_path):
    rev, docs = _review(tmp_path)
    d = docs[0]
    first = d["spans"][0]
    d["spans"].append({"start": first["start"], "end": first["end"] - 1, "label": "ID"})
    r = score_review(rev, _write(tmp_path / "o.jsonl", docs), n_resamples=0)
    assert len(r["annotation_notes"]) == 1 and "line 1" in r["annotation_notes"][0]
    assert "overlaps" in r["annotation_notes"][0]
    assert r["leaked_spans"] == 0


def test_score_reads_brat_and_names_its_file(tmp_path):
    rev, docs = _review(tmp_path)
    r = score_review(rev, rev / "brat", n_resamples=0)
    assert r["metrics"]["token_recall"]["value"] == 1.0 and r["leaked_spans"] == 0
    # nothing missed: exact intervals instead of the bootstrap's degenerate zero width
    r1 = score_review(rev, rev / "brat", n_resamples=100)
    lk, rc = r1["metrics"]["leaks_per_100k_words"], r1["metrics"]["token_recall"]
    assert lk["ci_low"] == 0.0 and lk["ci_high"] == pytest.approx(1e5 * 3.6889 / r1["words"],
                                                                   rel=1e-4)
    tokens = sum(len(re.findall(r"[A-Za-z]+|\d+", d["text"][s["start"]:s["end"]]))
                 for d in docs for s in d["spans"])
    assert rc["ci_low"] == pytest.approx(0.025 ** (1 / tokens)) and rc["ci_high"] == 1.0
    assert "exact" in lk["note"] and "exact" in rc["note"]
    assert r["unchanged"]  # the prefilled file, not reviewed: the CLI warns
    import tarfile

    with tarfile.open(tmp_path / "brat.tar.gz", "w:gz") as tar:
        tar.add(rev / "brat", arcname="brat")
    r2 = score_review(rev, tmp_path / "brat.tar.gz", n_resamples=0)
    assert r2["metrics"]["token_recall"] == r["metrics"]["token_recall"]
    (rev / "brat" / "note-0002.txt").write_text(docs[1]["text"] + "x")
    with pytest.raises(DataError, match=r"note-0002\.ann.*its text differs"):
        score_review(rev, rev / "brat", n_resamples=0)


def test_deid_settings_file(tmp_path, capsys):
    from healthnn.cli import main
    from healthnn.errors import ConfigError
    from healthnn.privacy.deid_settings import deid_options

    (tmp_path / "site.tsv").write_text("HOSPITAL\tWexcombe\n")
    cfg = tmp_path / "site.toml"
    cfg.write_text('[deid]\nterms = "site.tsv"\nkeep_year = false\n')
    opts = deid_options(cfg)
    assert opts == {"terms": {"HOSPITAL": ["Wexcombe"]}, "keep_year": False}
    assert deid_options(cfg, spacy_model="m")["spacy_model"] == "m"  # the command line adds
    for text, match in [('[deid]\nspacy_modle = "x"\n', r"deid.spacy_modle.*unknown key.*"
                                                           r"spacy_model"),
                        ('[deid]\nterms = "nope.tsv"\n', r"deid.terms.*not found"),
                        ('[deid]\nspacy_model = "models/nope"\n', r"deid.spacy_model.*folder"),
                        ('[deid]\nkeep_year = "no"\n', r"deid.keep_year.*true or false"),
                        ('[other]\n', r"one \[deid\] section")]:
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=match):
            deid_options(cfg)
    # deid and deid-review use the same file: the site's own hospital name is found by both
    cfg.write_text('[deid]\nterms = "site.tsv"\n')
    notes = tmp_path / "n.csv"
    pd.DataFrame({"text": ["Transferred from Wexcombe today."] * 3}).to_csv(notes, index=False)
    assert main(["deid", str(notes), "--out", str(tmp_path / "o.csv"), "--config", str(cfg),
                 "--workers", "1"]) == 0
    assert not any("Wexcombe" in t for t in pd.read_csv(tmp_path / "o.csv")["text"])
    assert main(["deid-review", "sample", str(notes), "--out", str(tmp_path / "rev"),
                 "--config", str(cfg)]) == 0
    det = [json.loads(x) for x in (tmp_path / "rev" / "detections.jsonl").read_text().splitlines()]
    assert all(any(s["label"] == "HOSPITAL" for s in d["spans"]) for d in det)
    m = json.loads((tmp_path / "rev" / "manifest.json").read_text())
    assert m["deidentifier"]["settings_file"] == str(cfg.resolve())
    assert main(["deid-review", "score", str(tmp_path / "rev"),
                 str(tmp_path / "rev" / "annotations.jsonl"), "--resamples", "0"]) == 0
    assert "exactly the detections" in capsys.readouterr().err
    capsys.readouterr()
    cfg.write_text('[deid]\nner = "missing_bundle"\n')
    assert main(["deid-review", "sample", str(notes), "--out", str(tmp_path / "r2"),
                 "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "deid.ner" in err and len(err.strip().splitlines()) == 1
