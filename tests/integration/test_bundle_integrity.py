"""Bundle integrity (issue 23 items 12-14): plain bundles carry SHA-256 of every file, encrypted
bundles bind every file to the bundle, and train --encrypt never writes plaintext."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from helpers import config_dict

from healthnn.bundle import load_bundle
from healthnn.bundle_files import INTEGRITY
from healthnn.errors import BundleError
from healthnn.pipeline import train
from healthnn.privacy.encryption import MARKER, encrypt_bundle
from healthnn.privacy.keys import generate_key_file, load_key

QUIET = {"log": lambda m: None}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from helpers import make_table

    root = tmp_path_factory.mktemp("integrity")
    make_table().to_csv(root / "t.csv", index=False)
    cfg = config_dict("classification", root / "t.csv")
    cfg["train"]["epochs"] = 2
    train(cfg, root / "a", **QUIET)
    train({**cfg, "train": {**cfg["train"], "seed": 7}}, root / "b", **QUIET)
    return root


@pytest.fixture
def bundle(trained, tmp_path):
    return shutil.copytree(trained / "a", tmp_path / "a")


def test_every_file_is_listed_and_the_bundle_loads(bundle):
    listed = json.loads((bundle / INTEGRITY).read_text())["files"]
    on_disk = {p.name for p in bundle.iterdir() if p.name != INTEGRITY}
    assert set(listed) == on_disk and {"task.json", "model.safetensors"} <= on_disk
    assert not [p for p in bundle.iterdir() if p.name.startswith(".staging")]
    load_bundle(bundle)


@pytest.mark.parametrize("name, edit", [
    ("task.json", lambda b: b.replace(b'"0"', b'"X"', 1) if b'"0"' in b else b + b" "),
    ("model.safetensors", lambda b: b[:-1] + bytes([b[-1] ^ 1])),
    ("config.toml", lambda b: b + b"\n# edited\n"),
])
def test_an_edited_file_is_an_error_naming_it_unless_allowed(bundle, name, edit, capsys):
    path = bundle / name
    path.write_bytes(edit(path.read_bytes()))
    with pytest.raises(BundleError, match="modified after training") as e:
        load_bundle(bundle)
    assert e.value.file == str(path) and "--allow-modified" in e.value.hint
    if name != "model.safetensors":  # a flipped weight byte may not load at all
        load_bundle(bundle, allow_modified=True)
        assert name in capsys.readouterr().err


def test_dropped_and_added_files_are_errors(bundle):
    assert not (bundle / "recalibration.json").exists()
    (bundle / "recalibration.json").write_text('{"method": "platt"}')
    with pytest.raises(BundleError, match="not part of the bundle") as e:
        load_bundle(bundle)
    assert e.value.file.endswith("recalibration.json")
    (bundle / "recalibration.json").unlink()
    (bundle / "metrics.json").unlink()
    with pytest.raises(BundleError, match="missing") as e:
        load_bundle(bundle)
    assert e.value.file.endswith("metrics.json")


def test_an_older_bundle_without_a_list_loads_with_a_note(bundle, capsys):
    (bundle / INTEGRITY).unlink()
    with pytest.raises(BundleError, match="integrity.json is missing"):
        load_bundle(bundle)  # this bundle's manifest says it had one: an incomplete copy
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["integrity"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    load_bundle(bundle)
    assert "written before bundles had an integrity list" in capsys.readouterr().err


def _encrypted(trained, tmp_path, key):
    a = shutil.copytree(trained / "a", tmp_path / "ea")
    b = shutil.copytree(trained / "b", tmp_path / "eb")
    encrypt_bundle(a, key)
    encrypt_bundle(b, key)
    return a, b


def test_a_sealed_file_from_another_bundle_with_the_same_key_fails(trained, tmp_path):
    key = load_key(generate_key_file(tmp_path / "k"))
    a, b = _encrypted(trained, tmp_path, key)
    load_bundle(a, key=key)
    shutil.copy(b / "model.safetensors.enc", a / "model.safetensors.enc")
    with pytest.raises(BundleError, match="modified or damaged, or replaced") as e:
        load_bundle(a, key=key)
    assert e.value.file.endswith("model.safetensors.enc")
    # and with the index copied as well, the other bundle's id no longer matches
    shutil.copy(b / "task.json.enc", a / "task.json.enc")
    info_a, info_b = (json.loads((x / MARKER).read_text()) for x in (a, b))
    assert info_a["bundle_id"] != info_b["bundle_id"]


def test_a_dropped_file_or_an_edited_index_fails(trained, tmp_path):
    key = load_key(generate_key_file(tmp_path / "k"))
    a, _ = _encrypted(trained, tmp_path, key)
    (a / "predictions_test.csv.enc").unlink()
    with pytest.raises(BundleError, match="incomplete: predictions_test.csv.enc is missing"):
        load_bundle(a, key=key)
    info = json.loads((a / MARKER).read_text())
    del info["files"]["predictions_test.csv"]  # drop it from the list too
    (a / MARKER).write_text(json.dumps(info))
    with pytest.raises(BundleError, match="encrypted.json was modified"):
        load_bundle(a, key=key)


def test_a_plaintext_bundle_is_refused_when_a_key_is_given(bundle, tmp_path):
    key = load_key(generate_key_file(tmp_path / "k"))
    with pytest.raises(BundleError, match="not encrypted"):
        load_bundle(bundle, key=key)


def _plaintext_files(folder, needles=(b"outcome", b"classification", b"patient")):
    found = []
    for p in folder.rglob("*"):
        if p.is_file() and any(n in p.read_bytes() for n in needles):
            found.append(p.name)
    return found


def test_train_encrypt_seals_checkpoints_and_files_as_they_are_written(trained, tmp_path):
    key = load_key(generate_key_file(tmp_path / "k"))
    cfg = config_dict("classification", trained / "t.csv")
    cfg["train"].update(epochs=3, patience=10)
    out = tmp_path / "enc"
    seen = []

    def inspect(epoch, record):
        files = [p for p in out.rglob("*") if p.is_file()]
        seen.append(sorted(p.name for p in files))
        assert _plaintext_files(out) == []
        assert all(p.stat().st_mode & 0o077 == 0 for p in files)  # 0600
        if epoch == 2:
            raise KeyboardInterrupt  # as a kill between epochs would

    from healthnn.config import load_config
    from healthnn.pipeline.data import read_training
    from healthnn.pipeline.run import new_task, run_split
    from healthnn.pipeline.split import make_splits

    config = load_config(cfg)
    task = new_task(config)
    splits = make_splits(config, task, *read_training(config, task))
    with pytest.raises(KeyboardInterrupt):  # the stages train() runs, with an epoch hook
        run_split(config, task, splits, out, encrypt_with=key, on_epoch=inspect, **QUIET)
    assert seen[0] == ["checkpoint.pt"] and _plaintext_files(out) == []
    bundle = train(cfg, out, encrypt_with=key, **QUIET)
    names = sorted(p.name for p in out.iterdir())
    assert MARKER in names and all(n == MARKER or n.endswith(".enc") for n in names), names
    assert "report.html.enc" in names and _plaintext_files(out) == []
    assert bundle.path == out
    loaded = load_bundle(out, key=key)
    df = pd.read_csv(trained / "t.csv").head(5)
    pd.testing.assert_frame_equal(loaded.predict(df), bundle.predict(df))


def test_a_bundle_encrypted_by_an_older_healthnn_still_loads_with_a_note(trained, bundle,
                                                                         tmp_path, capsys):
    from healthnn.bundle_files import bundle_file_names
    from healthnn.privacy.encryption import seal
    from healthnn.privacy.keys import key_id

    key = load_key(generate_key_file(tmp_path / "k"))
    rows = pd.read_csv(trained / "t.csv").head(5)
    before = load_bundle(bundle).predict(rows)
    names = bundle_file_names(bundle)
    for name in names:  # format 1: the file name alone as associated data, an unsigned list
        (bundle / f"{name}.enc").write_bytes(seal(key, (bundle / name).read_bytes(), name))
        (bundle / name).unlink()
    (bundle / MARKER).write_text(json.dumps({"format": 1, "algorithm": "AES-256-GCM",
                                             "key_id": key_id(key), "files": names}))
    after = load_bundle(bundle, key=key).predict(rows)
    pd.testing.assert_frame_equal(after, before)
    assert "encrypted by an older healthnn" in capsys.readouterr().err
