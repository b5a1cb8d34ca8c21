"""The command line for molecules: train, screen a library, explain, and bad input."""

import pandas as pd
import pytest
from helpers import MOLECULES
from test_cli import bad, run_cli, write_config

pytest.importorskip("rdkit")


pytestmark = pytest.mark.usefixtures("one_thread")

MOL = """task = "molecule_property"
[data]
train = "{train}"
target = "logS"
id = "name"
[model]
name = "dmpnn"
hidden = 32
ffn_hidden = [32]
"""


def test_train_screen_explain(tmp_path, capsys):
    cfg = write_config(tmp_path, MOL.format(train=MOLECULES / "esol_small.csv"))
    code, out, err = run_cli(capsys, "train", cfg, "--out", tmp_path / "b", "--set",
                             "train.epochs=2")
    assert code == 0, err
    assert "rmse" in out
    lib = pd.read_csv(MOLECULES / "esol_small.csv").drop(columns="logS").head(30)
    lib.loc[4, "smiles"] = "XYZ"
    lib.to_csv(tmp_path / "library.csv", index=False)
    code, out, err = run_cli(capsys, "predict", tmp_path / "b", tmp_path / "library.csv",
                             "--out", tmp_path / "ranked.csv")
    assert code == 0 and "predicted 29 of 30 rows" in out and "1 row(s)" in err
    ranked = pd.read_csv(tmp_path / "ranked.csv", keep_default_na=False)
    assert {"pred_logS", "rank", "error"} <= set(ranked.columns)
    assert "invalid SMILES 'XYZ'" in ranked.loc[4, "error"]
    code, out, err = run_cli(capsys, "explain", tmp_path / "b", tmp_path / "library.csv",
                             "--out", tmp_path / "ex", "--limit", "5")
    assert code == 0 and "wrote 5 explanation file(s)" in out  # 4 SVGs + attributions.csv
    assert len(list((tmp_path / "ex").glob("*.svg"))) == 4
    msg = bad(capsys, "explain", tmp_path / "b", tmp_path / "library.csv", "--out",
              tmp_path / "ex2", "--class", "toxicity")
    assert "'toxicity' is not a target" in msg and "logS" in msg


def test_missing_smiles_column_is_one_line(tmp_path, capsys):
    df = pd.read_csv(MOLECULES / "esol_small.csv").rename(columns={"smiles": "structure"})
    df.to_csv(tmp_path / "d.csv", index=False)
    cfg = write_config(tmp_path, MOL.format(train=tmp_path / "d.csv"))
    msg = bad(capsys, "train", cfg, "--out", tmp_path / "b")
    assert "column 'smiles'" in msg and "SMILES column not found" in msg and "structure" in msg


def test_binary_monitor_checked(tmp_path, capsys):
    body = MOL.format(train=MOLECULES / "esol_small.csv").replace(
        'target = "logS"', 'target = "logS"\ntask_type = "regression"')
    cfg = write_config(tmp_path, body + "\n")
    msg = bad(capsys, "train", cfg, "--out", tmp_path / "b", "--set", 'train.monitor="auroc"')
    assert "train.monitor" in msg and "rmse" in msg
