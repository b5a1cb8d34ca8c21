"""Encrypted bundles: train --encrypt, predict/evaluate with the key, clear failures."""

import json

import pandas as pd
import pytest
from helpers import config_dict

from healthnn.bundle import load_bundle
from healthnn.cli import main
from healthnn.errors import BundleError, HealthnnError
from healthnn.pipeline import train
from healthnn.privacy.encryption import decrypt_bundle, encrypt_bundle
from healthnn.privacy.keys import generate_key_file, load_key


@pytest.fixture
def trained(tmp_path, table_csv):
    train(config_dict("classification", table_csv), tmp_path / "b", log=lambda m: None)
    return tmp_path / "b"


def test_round_trip_wrong_key_and_tampering(tmp_path, trained, table_csv):
    df = pd.read_csv(table_csv)
    before = load_bundle(trained).predict(df)
    key = load_key(generate_key_file(tmp_path / "k1"))
    other = load_key(generate_key_file(tmp_path / "k2"))
    encrypt_bundle(trained, key)
    names = {p.name for p in trained.iterdir()}
    assert "model.safetensors" not in names and "model.safetensors.enc" in names
    assert "encrypted.json" in names and key.hex() not in (trained / "encrypted.json").read_text()
    pd.testing.assert_frame_equal(load_bundle(trained, key=key).predict(df), before)
    with pytest.raises(BundleError, match="no key was given"):
        load_bundle(trained)
    with pytest.raises(BundleError, match="wrong key"):
        load_bundle(trained, key=other)
    blob = bytearray((trained / "task.json.enc").read_bytes())
    blob[40] ^= 1
    (trained / "task.json.enc").write_bytes(bytes(blob))
    with pytest.raises(BundleError, match="modified or damaged"):
        load_bundle(trained, key=key)


def test_decrypt_restores_files(tmp_path, trained):
    original = (trained / "metrics.json").read_bytes()
    key = load_key(generate_key_file(tmp_path / "k"))
    encrypt_bundle(trained, key)
    decrypt_bundle(trained, key)
    assert (trained / "metrics.json").read_bytes() == original
    assert not (trained / "encrypted.json").exists()


def test_cli_train_encrypt_and_predict_with_env_key(tmp_path, table_csv, monkeypatch, capsys):
    cfg = tmp_path / "c.toml"
    d = config_dict("classification", table_csv)
    cfg.write_text(
        f'task = "classification"\n[data]\ntrain = "{table_csv}"\ntarget = "outcome"\n'
        f'[train]\nepochs = 2\nprogress = false\n[eval]\nbootstrap = 10\n')
    assert d  # same data as the other tests
    assert main(["keygen", str(tmp_path / "key")]) == 0
    assert main(["keygen", str(tmp_path / "key")]) == 2  # never overwrites a key
    assert main(["train", str(cfg), "--out", str(tmp_path / "b"), "--encrypt",
                 "--key-file", str(tmp_path / "key")]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "b"), str(table_csv), "--out", str(tmp_path / "p.csv")]) == 2
    assert "encrypted and no key" in capsys.readouterr().err
    monkeypatch.setenv("HEALTHNN_KEY_FILE", str(tmp_path / "key"))
    assert main(["predict", str(tmp_path / "b"), str(table_csv), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 240
    info = json.loads((tmp_path / "b" / "encrypted.json").read_text())
    assert info["algorithm"] == "AES-256-GCM"


def test_malformed_key_file(tmp_path):
    (tmp_path / "k").write_text("not-hex")
    with pytest.raises(HealthnnError, match="not a healthnn key"):
        load_key(tmp_path / "k")
