"""The command line for molecules: train, screen a library, explain, and bad input."""

import numpy as np
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


def test_screen_with_workers_and_explain_png(tmp_path, capsys, monkeypatch):
    import healthnn.data.molecules as molecules

    cfg = write_config(tmp_path, MOL.format(train=MOLECULES / "esol_small.csv"))
    code, _, err = run_cli(capsys, "train", cfg, "--out", tmp_path / "b", "--set",
                           "train.epochs=1")
    assert code == 0, err
    lib = pd.read_csv(MOLECULES / "bbbp_small.csv").drop(columns="p_np").head(60)
    lib.loc[7, "smiles"] = "not a molecule"
    lib.loc[30, "smiles"] = ""
    lib.to_csv(tmp_path / "library.csv", index=False)
    monkeypatch.setattr(molecules, "_CHUNK_MIN", 8)  # several chunks: the pool is used
    ranked = {}
    for w in ("1", "2"):
        code, out, err = run_cli(capsys, "predict", tmp_path / "b", tmp_path / "library.csv",
                                 "--out", tmp_path / f"ranked{w}.csv", "--workers", w)
        assert code == 0 and "predicted 58 of 60 rows" in out, err
        ranked[w] = pd.read_csv(tmp_path / f"ranked{w}.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(ranked["1"], ranked["2"])
    assert ranked["2"]["name"].tolist() == lib["name"].tolist()  # input order, every row
    assert ranked["2"].loc[30, "error"] == "column 'smiles': empty SMILES"
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage line and the reason
        run_cli(capsys, "predict", tmp_path / "b", tmp_path / "library.csv", "--out",
                tmp_path / "r.csv", "--workers", "0")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--workers: expected a whole number of at least 1, got '0'" in err
    assert "Traceback" not in err

    code, out, err = run_cli(capsys, "explain", tmp_path / "b", tmp_path / "library.csv",
                             "--out", tmp_path / "png", "--limit", "3", "--format", "png")
    assert code == 0, err
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 3 and not list((tmp_path / "png").glob("*.svg"))
    from PIL import Image

    for path in pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as im:
            assert im.size == (420, 360)
            # the drawing is not blank: attribution colours and atoms are on it
            assert len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 10
    table = pd.read_csv(tmp_path / "png" / "attributions.csv")
    assert table["file"].str.endswith(".png").all()


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
