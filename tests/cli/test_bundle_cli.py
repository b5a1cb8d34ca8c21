"""The CLI around bundles and output files (issue 23 items 4, 7, 12-14, 16, 22, 23, 25; issue 19
items 11, 12): one line and exit code 2 for every refusal, inputs never overwritten."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import make_table
from test_cli import CLS, bad, run_cli, write_config

from healthnn.cli import build_parser
from healthnn.io import folder_lock

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from healthnn.cli import main

    root = tmp_path_factory.mktemp("bcli")
    make_table().to_csv(root / "d.csv", index=False)
    cfg = write_config(root, CLS)
    assert main(["train", str(cfg), "--out", str(root / "b"), "--set", "train.epochs=2"]) == 0
    make_table(seed=3).drop(columns="outcome").head(30).to_csv(root / "new.csv", index=False)
    return root


def test_train_into_an_existing_bundle_needs_overwrite_which_clears_it(trained, tmp_path,
                                                                       capsys):
    import shutil

    out = shutil.copytree(trained / "b", tmp_path / "b")
    (out / "model.onnx").write_bytes(b"stale export of the old model")
    cfg = trained / "c.toml"
    line = bad(capsys, "train", cfg, "--out", out, "--set", "train.epochs=1")
    assert "already holds a bundle" in line and "--overwrite" in line
    assert (out / "model.onnx").is_file()  # refused: nothing touched
    code, _, err = run_cli(capsys, "train", cfg, "--out", out, "--set", "train.epochs=1",
                           "--overwrite")
    assert code == 0, err
    assert not (out / "model.onnx").exists()
    code, _, err = run_cli(capsys, "predict", out, trained / "new.csv", "--out",
                           tmp_path / "p.csv")
    assert code == 0, err


def test_a_second_train_into_a_locked_folder_is_refused(trained, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    with folder_lock(out, what="another 'healthnn train'"):
        line = bad(capsys, "train", trained / "c.toml", "--out", out)
    assert "another 'healthnn train' is writing into this folder" in line
    assert sorted(p.name for p in out.iterdir()) == [".healthnn.lock"]


@pytest.mark.parametrize("how", ["same", "hardlink", "symlink"])
def test_predict_never_overwrites_its_input(trained, tmp_path, capsys, how):
    src = tmp_path / "in.csv"
    src.write_bytes((trained / "new.csv").read_bytes())
    out = {"same": src, "hardlink": tmp_path / "h.csv", "symlink": tmp_path / "s.csv"}[how]
    if how == "hardlink":
        os.link(src, out)
    elif how == "symlink":
        out.symlink_to(src)
    line = bad(capsys, "predict", trained / "b", src, "--out", out)
    assert "would overwrite the input" in line
    assert src.read_bytes() == (trained / "new.csv").read_bytes()


def _full_disk(monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


def test_full_disk_in_predict_is_one_line_and_keeps_the_old_output(trained, tmp_path, capsys,
                                                                   monkeypatch):
    out = tmp_path / "p.csv"
    code, _, err = run_cli(capsys, "predict", trained / "b", trained / "new.csv", "--out", out)
    assert code == 0, err
    before = out.read_bytes()
    _full_disk(monkeypatch)
    line = bad(capsys, "predict", trained / "b", trained / "new.csv", "--out", out)
    assert "no space left on the device" in line and str(out) in line
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_full_disk_in_train_and_deid_is_one_line(trained, tmp_path, capsys, monkeypatch):
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"text": ["Seen by Dr. Smith on 3/4/2021."] * 3}).to_csv(notes, index=False)
    _full_disk(monkeypatch)
    code, _, err = run_cli(capsys, "train", trained / "c.toml", "--out", tmp_path / "t")
    errors = [x for x in err.splitlines() if "error" in x]  # after train's own notes
    assert code == 2 and "Traceback" not in err and len(errors) == 1
    assert "checkpoint.pt: cannot write: no space left on the device" in errors[0]
    line = bad(capsys, "deid", notes, "--out", tmp_path / "o.csv", "--spans",
               tmp_path / "s.jsonl", "--workers", "1")
    assert "no space left on the device" in line
    assert not (tmp_path / "s.jsonl").exists()


def test_a_damaged_checkpoint_on_resume_is_one_line(trained, tmp_path, capsys):
    out = tmp_path / "part"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a whole checkpoint")
    code, _, err = run_cli(capsys, "train", trained / "c.toml", "--out", out, "--resume")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(
        "checkpoint.pt: the checkpoint is damaged or truncated (start again without --resume: "
        "the checkpoint cannot be used)")


def test_encrypt_twice_says_already_encrypted_and_key_files_are_private(trained, tmp_path,
                                                                        capsys):
    import shutil

    out = shutil.copytree(trained / "b", tmp_path / "b")
    key = tmp_path / "key"
    code, _, err = run_cli(capsys, "keygen", key)
    assert code == 0 and key.stat().st_mode & 0o777 == 0o600
    code, _, err = run_cli(capsys, "encrypt", out, "--key-file", key)
    assert code == 0 and "warning" not in err
    line = bad(capsys, "encrypt", out, "--key-file", key)
    assert "already encrypted" in line and "no key" not in line
    key.chmod(0o644)
    code, _, err = run_cli(capsys, "predict", out, trained / "new.csv", "--out",
                           tmp_path / "p.csv", "--key-file", key)
    assert code == 0
    assert "readable by others (mode 0644)" in err and f"chmod 600 {key}" in err
    assert key.read_text() not in err


def test_allow_modified_on_the_command_line(trained, tmp_path, capsys):
    import shutil

    out = shutil.copytree(trained / "b", tmp_path / "b")
    with open(out / "config.toml", "a") as fh:
        fh.write("\n# a deliberate edit\n")
    line = bad(capsys, "predict", out, trained / "new.csv", "--out", tmp_path / "p.csv")
    assert "config.toml" in line and "modified after training" in line
    code, _, err = run_cli(capsys, "predict", out, trained / "new.csv", "--out",
                           tmp_path / "p.csv", "--allow-modified")
    assert code == 0 and "config.toml" in err and "--allow-modified" in err


def test_a_bad_set_key_is_a_set_error(trained, capsys):
    line = bad(capsys, "train", trained / "c.toml", "--out", trained / "x",
               "--set", "train.epoch=3")
    assert line.startswith("healthnn train: error: --set train.epoch=3")
    assert "did you mean 'epochs'" in line


def test_predict_help_names_every_input_kind_and_the_row_numbering():
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None)
               and "predict" in a.choices)
    text = " ".join(sub.choices["predict"].format_help().split())
    for word in ("CSV or Parquet", "folder of PNG/JPEG/DICOM/NIfTI", ".txt files",
                 "SMILES", "event files", "1-based"):
        assert word in text, word


def test_a_killed_encrypted_training_leaves_no_plaintext(trained, tmp_path):
    key = tmp_path / "key"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "healthnn", "keygen", str(key)], env=env,
                   check=True, capture_output=True)
    out = tmp_path / "enc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "healthnn", "train", str(trained / "c.toml"), "--out", str(out),
         "--encrypt", "--key-file", str(key), "--set", "train.epochs=500",
         "--set", "train.patience=500"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").is_file() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint.pt").is_file()
    assert out.stat().st_mode & 0o777 == 0o700
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert p.name == ".healthnn.lock" or data.startswith(b"HEALTHNN-SEALED"), p
            assert b"outcome" not in data and b"patient" not in data, p
    assert not json.dumps([p.name for p in out.iterdir()]).count("model.safetensors")


def test_report_and_export_keep_the_integrity_list(trained, tmp_path, capsys):
    import shutil

    out = shutil.copytree(trained / "b", tmp_path / "b")
    (out / "report.html").unlink()
    code, _, err = run_cli(capsys, "report", out)
    assert code == 0 and (out / "report.html").is_file(), err
    code, _, err = run_cli(capsys, "predict", out, trained / "new.csv", "--out",
                           tmp_path / "p.csv")
    assert code == 0, err
