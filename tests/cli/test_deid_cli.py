"""``healthnn deid`` end to end on small files written by the tests."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from healthnn.cli import main
from healthnn.privacy.keys import generate_key_file

NOTES = [
    "Seen by Dr. Gregory Haverford on 3/14/2021. BP 120/80. Foley in place.",
    "",
    "Wife Margaret called from 617-555-0199; Parkinson's disease stable.",
    "Dr. Haverford aware; CABG 3/20/2021. Lasix 40 mg IV.",
]
PHI_WORDS = ["Haverford", "Margaret", "617-555-0199", "3/14/2021", "3/20/2021"]


@pytest.fixture()
def table():
    return pd.DataFrame({
        "note_id": [1, 2, 3, 4],
        "patient": ["p1", "p1", "p2", "p1"],
        "text": NOTES,
        "other": ["a,b", "x", "", "z"],
    })


def run(capsys, *argv):
    code = main(["deid", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_phi(*texts):
    for t in texts:
        for w in PHI_WORDS:
            assert w not in t, w


def read_spans(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_csv_tag_keeps_rows_columns_and_order(tmp_path, capsys, table):
    src, dst, spans = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "spans.jsonl"
    table.to_csv(src, index=False)
    code, out, err = run(capsys, src, "--out", dst, "--spans", spans, "--workers", "1")
    assert code == 0, err
    assert "4 notes" in out and "notes/s" in out
    assert_no_phi(out, err)
    got = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert list(got.columns) == list(table.columns)
    assert got["note_id"].tolist() == ["1", "2", "3", "4"]
    assert got["other"].tolist() == ["a,b", "x", "", "z"]
    assert got["text"][1] == ""
    assert_no_phi(*got["text"])
    assert "[NAME]" in got["text"][0] and "BP 120/80" in got["text"][0] and "Foley" in got["text"][0]
    assert "Parkinson's disease" in got["text"][2]
    # spans: one line per row, offsets into the original text
    recs = read_spans(spans)
    assert [r["row"] for r in recs] == [1, 2, 3, 4]
    assert recs[1]["spans"] == []
    found = {NOTES[r["row"] - 1][s["start"]:s["end"]] for r in recs for s in r["spans"]}
    assert {"Gregory Haverford", "3/14/2021", "Margaret", "617-555-0199", "Haverford"} <= found
    assert "Haverford" not in spans.read_text()


def test_surrogate_mode_consistent_per_patient(tmp_path, capsys, table, monkeypatch):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    table.to_csv(src, index=False)
    key = generate_key_file(tmp_path / "deid.key")
    monkeypatch.setenv("HEALTHNN_KEY_FILE", str(key))
    code, out, err = run(capsys, src, "--out", dst, "--mode", "surrogate", "--id-column", "patient",
                         "--workers", "2")
    assert code == 0, err
    got = pd.read_csv(dst, dtype=str, keep_default_na=False)["text"].tolist()
    assert_no_phi(*got)
    fake = got[0].split("Dr. Gregory ")[-1].split()[0] if "Dr. Gregory " in got[0] else None
    surname = got[0].split(" on ")[0].split()[-1]
    assert surname in got[3]  # same patient, same surrogate surname
    assert fake is None or fake
    import datetime as dt
    import re

    d1 = re.search(r"on (\d+/\d+/\d{4})", got[0]).group(1)
    d2 = re.search(r"CABG (\d+/\d+/\d{4})", got[3]).group(1)
    a, b = (dt.datetime.strptime(x, "%m/%d/%Y") for x in (d1, d2))
    assert (b - a).days == 6


def test_surrogate_without_key_is_a_clean_error(tmp_path, capsys, table, monkeypatch):
    monkeypatch.delenv("HEALTHNN_KEY_FILE", raising=False)
    src = tmp_path / "in.csv"
    table.to_csv(src, index=False)
    code, out, err = run(capsys, src, "--out", tmp_path / "o.csv", "--mode", "surrogate")
    assert code == 2
    assert "needs a secret key" in err and "--key-file" in err
    assert not (tmp_path / "o.csv").exists()


def test_missing_text_column(tmp_path, capsys, table):
    src = tmp_path / "in.csv"
    table.rename(columns={"text": "note"}).to_csv(src, index=False)
    code, out, err = run(capsys, src, "--out", tmp_path / "o.csv", "--workers", "1")
    assert code == 2
    assert "in.csv" in err and "column 'text'" in err and "--text-column" in err and "'note'" in err
    assert len(err.strip().splitlines()) == 1
    assert_no_phi(err)
    assert not (tmp_path / "o.csv").exists()
    code, out, err = run(capsys, src, "--out", tmp_path / "o.csv", "--text-column", "note", "--workers", "1")
    assert code == 0


def test_invalid_utf8_row_is_reported_and_kept(tmp_path, capsys):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(
        b"id,text,other\n"
        b"1,Dr. Haverford saw pt,ok\n"
        b"2,Caf\xe9 visit with Dr. Haverford,caf\xe9\n"
        b"3,,\n"
    )
    code, out, err = run(capsys, src, "--out", dst, "--workers", "1")
    assert code == 0
    assert "row 2, column 'text'" in err and "UTF-8" in err
    assert_no_phi(err)
    raw = dst.read_bytes().splitlines()
    assert len(raw) == 4
    assert raw[2].endswith(b",caf\xe9")  # other columns byte for byte
    assert "Caf\ufffd visit with Dr. [NAME]" in raw[2].decode("utf-8", "replace")


def test_empty_file_and_header_only(tmp_path, capsys):
    src = tmp_path / "empty.csv"
    src.write_bytes(b"")
    code, out, err = run(capsys, src, "--out", tmp_path / "o.csv")
    assert code == 2 and "empty.csv" in err and "file is empty" in err
    src.write_text("id,text\n")
    code, out, err = run(capsys, src, "--out", tmp_path / "o.csv", "--workers", "1")
    assert code == 0 and "0 notes" in out
    assert (tmp_path / "o.csv").read_text().strip() == "id,text"
    jl = tmp_path / "empty.jsonl"
    jl.write_bytes(b"")
    code, out, err = run(capsys, jl, "--out", tmp_path / "o.jsonl", "--workers", "1")
    assert code == 0 and "0 notes" in out and (tmp_path / "o.jsonl").read_bytes() == b""


def test_missing_input_and_wrong_output_type(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "nope.csv", "--out", tmp_path / "o.csv")
    assert code == 2 and "nope.csv" in err and "input not found" in err
    src = tmp_path / "in.csv"
    src.write_text("text\nhello\n")
    code, out, err = run(capsys, src, "--out", tmp_path / "o.parquet")
    assert code == 2 and "format" in err
    code, out, err = run(capsys, src, "--out", src)
    assert code == 2 and "overwrite" in err
    code, out, err = run(capsys, src, "--out", tmp_path / "no" / "such" / "o.csv")
    assert code == 2 and "does not exist" in err


def test_one_huge_note(tmp_path, capsys):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    big = "BP 120/80, K 3.9, Lasix 40 mg. " * 6000 + "Dr. Haverford aware."
    pd.DataFrame({"text": ["short note", big, "Wife Margaret here"]}).to_csv(src, index=False)
    code, out, err = run(capsys, src, "--out", dst, "--workers", "1")
    assert code == 0
    got = pd.read_csv(dst, dtype=str, keep_default_na=False)["text"].tolist()
    assert len(got) == 3 and got[0] == "short note"
    assert got[1].endswith("Dr. [NAME] aware.") and len(got[1]) > 180000
    assert got[2] == "Wife [NAME] here"


def test_jsonl_with_bad_lines(tmp_path, capsys):
    src, dst, spans = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.jsonl"
    lines = [
        json.dumps({"id": 1, "pid": "p1", "text": NOTES[0], "meta": {"k": 1}}),
        "{not json",
        "",
        json.dumps({"id": 4, "pid": "p1", "text": None}),
        json.dumps({"id": 5, "pid": "p2"}),
        json.dumps({"id": 6, "pid": "p2", "text": NOTES[2]}),
    ]
    src.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, src, "--out", dst, "--spans", spans, "--id-column", "pid", "--workers", "1")
    assert code == 0, err
    assert "row 2" in err and "row 5, column 'text'" in err
    assert_no_phi(out, err)
    got = dst.read_text().split("\n")
    assert len(got) == len(lines) + 1 and got[-1] == ""
    first = json.loads(got[0])
    assert first["id"] == 1 and first["meta"] == {"k": 1} and "[NAME]" in first["text"]
    assert json.loads(got[1])["text"] is None and "deid_error" in json.loads(got[1])
    assert got[2] == ""
    assert json.loads(got[3]) == {"id": 4, "pid": "p1", "text": None}
    assert json.loads(got[4]) == {"id": 5, "pid": "p2"}
    assert_no_phi(json.loads(got[5])["text"])
    assert [r["row"] for r in read_spans(spans)] == [1, 2, 3, 4, 5, 6]


def test_parquet_round_trip(tmp_path, capsys, table):
    src, dst, spans = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "s.jsonl"
    table.loc[1, "text"] = None
    table.to_parquet(src, index=False)
    code, out, err = run(capsys, src, "--out", dst, "--spans", spans, "--workers", "1")
    assert code == 0, err
    got = pd.read_parquet(dst)
    assert list(got.columns) == list(table.columns) and len(got) == 4
    assert got["note_id"].tolist() == [1, 2, 3, 4] and got["other"].tolist() == table["other"].tolist()
    assert got["text"][1] is None
    assert_no_phi(*[t for t in got["text"] if t])
    recs = read_spans(spans)
    for r in recs:
        for s in r["spans"]:
            assert NOTES[r["row"] - 1][s["start"]:s["end"]].strip()


def test_folder_of_txt_files(tmp_path, capsys):
    src, dst = tmp_path / "notes", tmp_path / "clean"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text(NOTES[0])
    (src / "sub" / "b.txt").write_text(NOTES[2] + "\r\nline two")
    (src / "c.txt").write_bytes(b"Dr. Haverford \xff\xfe note")
    (src / "empty.txt").write_text("")
    code, out, err = run(capsys, src, "--out", dst, "--mode", "mask", "--workers", "1")
    assert code == 0, err
    assert "4 notes" in out and "c.txt" in err
    a = (dst / "a.txt").read_text()
    assert len(a) == len(NOTES[0]) and "Haverford" not in a and "BP 120/80" in a
    b = (dst / "sub" / "b.txt").read_bytes()
    assert b.endswith(b"\r\nline two")
    assert (dst / "empty.txt").read_text() == ""
    assert_no_phi((dst / "c.txt").read_text())


def test_help_lists_deid(capsys):
    with pytest.raises(SystemExit):
        main(["deid", "--help"])
    assert "--text-column" in capsys.readouterr().out


def test_local_terms_and_removed_years(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"text": "Transferred to NWH in 1999 then to Ashgrove."}) + "\n")
    terms = tmp_path / "terms.tsv"
    terms.write_text("# our sites\nHOSPITAL\tNWH\nhospital\tAshgrove\n")
    code, out, err = run(capsys, src, "--out", dst, "--terms", terms, "--remove-years", "--workers", "1")
    assert code == 0, err
    assert json.loads(dst.read_text())["text"] == "Transferred to [HOSPITAL] in [DATE] then to [HOSPITAL]."
    terms.write_text("PLACE\tNWH\n")
    code, out, err = run(capsys, src, "--out", dst, "--terms", terms)
    assert code == 2 and "terms.tsv" in err and "row 1" in err and "unknown label" in err


def test_engine_failure_on_one_note_withholds_it_and_finishes(tmp_path, capsys, monkeypatch):
    from healthnn.privacy import deid as deid_mod

    real = deid_mod.Deidentifier.find_many

    def flaky(self, texts):
        if any("BOOM" in t for t in texts):
            raise RuntimeError("engine bug")
        return real(self, texts)

    monkeypatch.setattr(deid_mod.Deidentifier, "find_many", flaky)
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": ["Dr. Haverford aware", "BOOM Margaret", "ok"]}).to_csv(src, index=False)
    code, out, err = run(capsys, src, "--out", dst, "--workers", "1")
    assert code == 0
    assert "row 2, column 'text'" in err and "RuntimeError" in err and "Margaret" not in err
    got = pd.read_csv(dst, dtype=str, keep_default_na=False)["text"].tolist()
    assert got == ["Dr. [NAME] aware", "[DEID_ERROR]", "ok"]
