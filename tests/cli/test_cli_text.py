"""The command line for text: train, index, search (BM25 and fused), summarize, bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import TEXT
from test_cli import bad, run_cli, write_config

pytestmark = pytest.mark.usefixtures("one_thread")

TXT = """task = "text_classification"
[data]
train = "{train}"
id = "id"
max_length = 48
vocab_size = 600
[model]
embed_dim = 16
hidden = 16
[report]
enabled = false
"""


def test_index_and_search_pubmedqa_questions(tmp_path, capsys):
    code, out, err = run_cli(capsys, "index", TEXT / "pubmedqa_40.jsonl", "--out",
                             tmp_path / "idx")
    assert code == 0, err
    assert "indexed 40 documents" in out
    docs = [json.loads(line) for line in open(TEXT / "pubmedqa_40.jsonl")]
    hits = 0
    for d in docs[:10]:
        code, out, _ = run_cli(capsys, "search", tmp_path / "idx", d["question"], "--k", "1",
                               "--bm25-only")
        assert code == 0
        hits += out.split()[2] == d["id"]
    assert hits >= 8  # a question's own abstract is almost always the top BM25 hit
    code, out, _ = run_cli(capsys, "search", tmp_path / "idx", docs[0]["question"], "--out",
                           tmp_path / "r.csv")
    table = pd.read_csv(tmp_path / "r.csv")
    assert list(table["rank"]) == list(range(1, 11)) and table["score"].is_monotonic_decreasing


def test_train_then_index_with_model_embeddings(tmp_path, capsys):
    cfg = write_config(tmp_path, TXT.format(train=TEXT / "medical_abstracts_250.csv"))
    code, out, err = run_cli(capsys, "train", cfg, "--out", tmp_path / "b", "--set",
                             "train.epochs=1")
    assert code == 0, err
    assert "accuracy" in out
    code, out, err = run_cli(capsys, "index", TEXT / "medical_abstracts_250.csv", "--out",
                             tmp_path / "idx", "--bundle", tmp_path / "b")
    assert code == 0 and "with model embeddings" in out, err
    code, out, err = run_cli(capsys, "search", tmp_path / "idx", "colon carcinoma", "--k", "5",
                             "--out", tmp_path / "r.csv")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "r.csv")
    assert {"bm25", "cosine"} <= set(table.columns) and len(table) == 5


def test_summarize_jsonl_and_csv(tmp_path, capsys):
    df = pd.read_csv(TEXT / "medical_abstracts_250.csv").head(6)
    df.loc[2, "text"] = ""
    df.to_csv(tmp_path / "in.csv", index=False)
    code, out, err = run_cli(capsys, "summarize", tmp_path / "in.csv", "--out",
                             tmp_path / "s.jsonl", "--sentences", "2", "--id-column", "id")
    assert code == 0 and "summarised 6 documents" in out and "1 empty" in err
    recs = [json.loads(line) for line in open(tmp_path / "s.jsonl")]
    for rec, text in zip(recs, df["text"].fillna(""), strict=True):
        assert all(text[s["start"]:s["end"]] == s["text"] for s in rec["sentences"])
    assert recs[2]["error"] == "row 3: empty text" and recs[0]["id"] == df["id"][0]
    assert len(recs[0]["sentences"]) == 2
    code, _, err = run_cli(capsys, "summarize", tmp_path / "in.csv", "--out",
                           tmp_path / "s.csv", "--ratio", "0.3")
    assert code == 0, err
    out_df = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert len(out_df) == 6 and {"summary", "summary_offsets", "error"} <= set(out_df.columns)


def test_bad_text_input(tmp_path, capsys):
    assert "file not found" in bad(capsys, "index", tmp_path / "nope.csv", "--out",
                                   tmp_path / "i")
    (tmp_path / "d.csv").write_text("body\nx\n")
    msg = bad(capsys, "index", tmp_path / "d.csv", "--out", tmp_path / "i")
    assert "column 'text'" in msg and "the file has: body" in msg
    assert "not a search index" in bad(capsys, "search", tmp_path, "chest pain")
    assert "query is empty" in bad(capsys, "search", tmp_path, "  ")
    assert "unsupported output type" in bad(capsys, "summarize", tmp_path / "d.csv", "--out",
                                            tmp_path / "s.txt", "--text-column", "body")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{oops\n')
    msg = bad(capsys, "summarize", tmp_path / "bad.jsonl", "--out", tmp_path / "s.jsonl")
    assert "row 2" in msg and "not valid JSON" in msg
    # invalid UTF-8 is replaced and reported; the documents are still summarised
    (tmp_path / "u.csv").write_bytes(b"text\nGood one. Fine.\nBad \xff byte. Here.\n")
    code, out, err = run_cli(capsys, "summarize", tmp_path / "u.csv", "--out",
                             tmp_path / "u.jsonl")
    assert code == 0 and "row(s) 2: invalid UTF-8" in err and "summarised 2" in out
