"""The command line for images: train, predict on a folder, explain with Grad-CAM, bad input."""

import shutil

import pandas as pd
import pytest
from image_helpers import IMAGES, manifest, synthetic, write_png

from healthnn.cli import main

pytest.importorskip("PIL")

CFG = """task = "image_classification"
[data]
train = "manifest.csv"
image_size = 20
[model]
name = "simple_cnn"
[train]
epochs = 1
batch_size = 16
progress = false
[eval]
bootstrap = 10
"""


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_img")
    manifest(root, n_per_class=10)
    (root / "c.toml").write_text(CFG)
    assert main(["train", str(root / "c.toml"), "--out", str(root / "b")]) == 0
    return root


def test_predict_folder_and_explain(bundle, tmp_path, capsys):
    d = tmp_path / "incoming"
    write_png(d / "a.png", synthetic(0, 1))
    write_png(d / "sub" / "b.png", synthetic(1, 2))
    (d / "c.png").write_bytes(b"")
    shutil.copy(IMAGES / "waveform_ecg.dcm", d / "ecg.dcm")
    code, out, err = run_cli(capsys, "predict", bundle / "b", d, "--out", tmp_path / "p.csv")
    assert code == 0 and "predicted 2 of 4 rows" in out
    assert "2 row(s) could not be predicted" in err
    p = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(p["path"]) == ["a.png", "c.png", "ecg.dcm", "sub/b.png"]
    assert {"prob_normal", "prob_pneumonia", "prediction", "error"} <= set(p.columns)

    code, out, err = run_cli(capsys, "explain", bundle / "b", d, "--out", tmp_path / "cams",
                             "--class", "normal")
    assert code == 0 and "wrote 2 explanation file(s)" in out
    assert "c.png" in err and "ecg.dcm" in err  # warned, not fatal
    assert len(list((tmp_path / "cams").glob("*_gradcam_normal.png"))) == 2


def test_explain_unknown_class_and_missing_input(bundle, tmp_path, capsys):
    code, out, err = run_cli(capsys, "explain", bundle / "b", bundle / "images", "--out",
                             tmp_path / "x", "--class", "covid")
    assert code == 2 and "unknown class 'covid'" in err and "normal, pneumonia" in err
    code, out, err = run_cli(capsys, "predict", bundle / "b", tmp_path / "nothing",
                             "--out", tmp_path / "p.csv")
    assert code == 2 and "nothing" in err and "Traceback" not in err


def test_train_bad_image_is_one_line_naming_file_and_row(tmp_path, capsys):
    manifest(tmp_path, n_per_class=6)
    (tmp_path / "images" / "1_02.png").write_bytes(b"\x89PNG\r\n\x1a\ncorrupt")
    (tmp_path / "c.toml").write_text(CFG)
    code, out, err = run_cli(capsys, "train", tmp_path / "c.toml", "--out", tmp_path / "b")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "manifest.csv" in lines[0] and "row 9" in lines[0] and "1_02.png" in lines[0]
    assert "cannot decode image" in lines[0]


def test_config_errors_for_image_keys(tmp_path, capsys):
    manifest(tmp_path, n_per_class=4)
    (tmp_path / "c.toml").write_text(CFG.replace("image_size = 20", "image_size = 20\nbalanse = \"loss\""))
    code, out, err = run_cli(capsys, "train", tmp_path / "c.toml", "--out", tmp_path / "b")
    assert code == 2 and "data.balanse" in err and "did you mean 'balance'" in err
    (tmp_path / "c.toml").write_text(CFG.replace("image_size = 20", "image_size = 20\nchannels = 2"))
    code, out, err = run_cli(capsys, "train", tmp_path / "c.toml", "--out", tmp_path / "b")
    assert code == 2 and "data.channels" in err


def test_demo_image_config_and_data_ship_in_the_package():
    from healthnn.config import load_config
    from healthnn.demo import DEMOS, dataset_path

    assert "pneumonia" in [d[0] for d in DEMOS]
    cfg = load_config(dataset_path("pneumonia.toml"))
    assert cfg.task == "image_classification" and cfg.resolve(cfg.data.train).is_file()
    assert dataset_path("pneumoniamnist_subset.npz").stat().st_size < 1_000_000
