"""`healthnn export`: what it prints, and one clear line for each bad input."""

import pytest
from helpers import FAST, config_dict, make_table

from healthnn import load_config, train
from healthnn.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def bundle(tmp_path, one_thread):
    make_table().to_csv(tmp_path / "d.csv", index=False)
    cfg = config_dict("classification", tmp_path / "d.csv", categorical=["sex", "smoker"])
    cfg["train"] = {**FAST, "epochs": 1}
    train(load_config(cfg), tmp_path / "b", log=lambda m: None)
    return tmp_path / "b"


def test_export_prints_the_check_and_the_metric_table(bundle, tmp_path, capsys):
    make_table(seed=5).head(40).to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(capsys, "export", bundle, "--data", tmp_path / "new.csv",
                             "--out", tmp_path / "m.onnx", "--quantize")
    assert code == 0, err
    assert f"exported: {tmp_path / 'm.onnx'}" in out
    assert "checked on 40 rows of" in out and "tolerance 1e-05" in out
    assert "int8:" in out and (tmp_path / "m.int8.onnx").is_file()
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "torch", "onnx", "int8"]
    # a file without labels is checked but has no metric table
    make_table(seed=5).head(10).drop(columns=["outcome"]).to_csv(tmp_path / "x.csv", index=False)
    code, out, _ = run_cli(capsys, "export", bundle, "--data", tmp_path / "x.csv")
    assert code == 0 and "checked on 10 rows" in out and "metric" not in out


@pytest.mark.parametrize("args, message", [
    (["--rows", "0"], "--rows must be at least 1"),
    (["--out", "m.txt"], "must end in .onnx"),
    (["--data", "missing.csv"], "file not found"),
])
def test_bad_input_is_one_line(bundle, capsys, args, message):
    code, out, err = run_cli(capsys, "export", bundle, *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_not_a_bundle(tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", tmp_path / "nothing")
    assert code == 2 and "bundle directory not found" in err


def test_rows_that_cannot_be_encoded(bundle, tmp_path, capsys):
    bad = make_table().head(1).astype({"age": object})
    bad.loc[0, "age"] = "x"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run_cli(capsys, "export", bundle, "--data", tmp_path / "bad.csv")
    assert code == 2 and "none of the 1 rows could be encoded" in err
