"""Rows in == rows out (issue 23 item 6): a one-column file whose rows hold only blanks loses
no row in ``predict`` or ``deid``, and each unusable row is reported."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import TEXT, make_table
from test_cli import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

NOTES = "text\nColon carcinoma with liver metastases.\n     \n\t\nBreast tissue is normal.\n"


def test_deid_keeps_whitespace_only_rows(tmp_path, capsys):
    src = tmp_path / "notes.csv"
    src.write_text(NOTES)
    code, out, err = run_cli(capsys, "deid", src, "--out", tmp_path / "out.csv")
    assert code == 0, err
    back = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False,
                       skip_blank_lines=False)
    assert len(back) == 4 and back["text"].tolist()[1:3] == ["     ", "\t"]


def test_text_predict_reports_whitespace_rows(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'task = "text_classification"\n[data]\ntrain = "{TEXT / "medical_abstracts_250.csv"}"\n'
                   'max_length = 32\nvocab_size = 300\n[model]\nembed_dim = 8\nhidden = 8\n'
                   '[train]\nepochs = 1\nprogress = false\n[eval]\nbootstrap = 5\n'
                   '[report]\nenabled = false\n')
    code, _, err = run_cli(capsys, "train", cfg, "--out", tmp_path / "b")
    assert code == 0, err
    src = tmp_path / "notes.csv"
    src.write_text(NOTES)
    code, out, err = run_cli(capsys, "predict", tmp_path / "b", src, "--out", tmp_path / "p.csv")
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    assert len(pred) == 4
    assert pred["error"].tolist()[0] == "" and pred["error"].tolist()[3] == ""
    assert all("empty text" in e for e in pred["error"].tolist()[1:3])
    assert "2 row(s) could not be predicted" in err


def test_table_predict_keeps_blank_rows(tmp_path, capsys):
    df = make_table(120)[["age", "outcome"]]
    df.to_csv(tmp_path / "d.csv", index=False)
    toml = tmp_path / "c.toml"
    toml.write_text(f'task = "classification"\n[data]\ntrain = "{tmp_path / "d.csv"}"\n'
                    'target = "outcome"\n[train]\nepochs = 2\nprogress = false\n'
                    '[eval]\nbootstrap = 5\n[report]\nenabled = false\n')
    code, _, err = run_cli(capsys, "train", toml, "--out", tmp_path / "b")
    assert code == 0, err
    (tmp_path / "new.csv").write_text("age\n61\n   \n\n70\n")
    code, out, err = run_cli(capsys, "predict", tmp_path / "b", tmp_path / "new.csv",
                             "--out", tmp_path / "p.csv")
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    assert len(pred) == 4  # a missing age is imputed, as in any other file
