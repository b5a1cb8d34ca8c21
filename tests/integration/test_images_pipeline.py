"""End-to-end image classification: manifest / folder / npz -> bundle -> reload -> predict,
evaluate and explain; every bad input of issue 11 reported with the file, nothing else lost."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from image_helpers import IMAGES, image_config, image_folder, manifest, synthetic, write_png

from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.data.tables import fingerprint_files
from healthnn.errors import DataError
from healthnn.pipeline import evaluate, explain, predict_file, train

pytest.importorskip("PIL")
pytest.importorskip("pydicom")

QUIET = {"log": lambda m: None}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small model on a manifest (with a patient group column), shared by the tests."""
    root = tmp_path_factory.mktemp("img")
    csv = manifest(root, n_per_class=14)
    cfg = load_config(image_config(csv, group="patient"))
    bundle = train(cfg, root / "b", **QUIET)
    return root, csv, bundle


def test_linked_files_fingerprint_changes_with_an_image(tmp_path):
    a, b = write_png(tmp_path / "a.png", synthetic(0, 1)), write_png(tmp_path / "b.png", synthetic(1, 2))
    first = fingerprint_files([b, a, a, tmp_path / "gone.png"], tmp_path)
    assert (first["files"], first["missing"]) == (2, 1)
    assert fingerprint_files([a, b], tmp_path)["sha256"] == first["sha256"]  # order, duplicates
    write_png(b, synthetic(0, 3))
    assert fingerprint_files([a, b], tmp_path)["sha256"] != first["sha256"]


def test_manifest_train_bundle_and_reload(trained):
    root, csv, bundle = trained
    b = root / "b"
    assert {"model.safetensors", "task.json", "metrics.json", "predictions_test.csv",
            "report.html", "report.json"} <= {p.name for p in b.iterdir()}
    metrics = json.loads((b / "metrics.json").read_text())
    assert {"auroc", "accuracy", "sensitivity", "specificity"} <= set(metrics["test"])
    manifest_json = json.loads((b / "manifest.json").read_text())
    assert manifest_json["task"] == "image_classification"
    assert sum(s["rows"] for s in manifest_json["splits"].values()) == 28
    # the fingerprint covers the images the manifest names, not only the CSV
    linked = manifest_json["data"]["train"]["linked_files"]
    assert linked["files"] == 28 and linked["missing"] == 0
    images = [csv.parent / p for p in pd.read_csv(csv)["path"]]
    assert linked["sha256"] == fingerprint_files(images, csv.parent)["sha256"]
    assert "the 28 files it names" in (b / "report.html").read_text()
    state = json.loads((b / "task.json").read_text())
    assert state["classes"] == ["normal", "pneumonia"] and state["channels"] == 1
    # the report draws Grad-CAM for test images spread over the score range, captioned
    report = json.loads((b / "report.json").read_text())
    examples = next(sec for sec in report["sections"] if sec["id"] == "examples")
    n_test = manifest_json["splits"]["test"]["rows"]
    assert len(examples["plots"]) == min(4, n_test)
    assert all(p["png_base64"] and p["title"].startswith("example ") for p in examples["plots"])
    assert "observed label = " in examples["plots"][0]["title"]
    assert examples["plots"][0]["png_base64"] in (b / "report.html").read_text()
    # group split: no patient in two splits
    saved = pd.read_csv(b / "predictions_test.csv")
    assert list(saved.columns[:3]) == ["row", "path", "label"]
    # reload gives identical predictions
    df = pd.read_csv(csv)
    again = load_bundle(b)
    p1 = bundle.predict(df.drop(columns="label"), file=csv)
    p2 = again.predict(df.drop(columns="label"), file=csv)
    pd.testing.assert_frame_equal(p1, p2)
    np.testing.assert_allclose(p1["prob_normal"] + p1["prob_pneumonia"], 1.0)
    redo = p2.iloc[saved["row"] - 1]
    np.testing.assert_allclose(saved["prob_pneumonia"], redo["prob_pneumonia"], rtol=1e-6)


def test_predict_bad_files_get_error_rows_and_the_rest_is_predicted(trained, tmp_path):
    root, csv, _ = trained
    d = tmp_path / "new"
    write_png(d / "ok_gray.png", synthetic(0, 7))
    write_png(d / "ok_rgba.png", np.stack([synthetic(1, 8)] * 3, -1), mode="RGBA")
    arr16 = synthetic(1, 9).astype(np.uint16) * 257
    from PIL import Image

    Image.fromarray(arr16).save(d / "ok_16bit.png")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (d / "empty.png").write_bytes(b"")
    shutil.copy(IMAGES / "waveform_ecg.dcm", d / "ecg.dcm")
    shutil.copy(IMAGES / "CT_small.dcm", d / "ct.dcm")
    data = (IMAGES / "CT_small.dcm").read_bytes()
    (d / "cut.dcm").write_bytes(data[: len(data) - 5000])
    pd.DataFrame({"path": ["ok_gray.png", "ok_rgba.png", "ok_16bit.png", "corrupt.png",
                           "empty.png", "ecg.dcm", "ct.dcm", "cut.dcm", "missing.png", ""],
                  "patient": list("abcdefghij")}).to_csv(d / "list.csv", index=False)

    n, n_err = predict_file(root / "b", d / "list.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert n == 10 and n_err == 6
    assert list(out["patient"]) == list("abcdefghij")  # every row kept, in order
    err = dict(zip(out["path"], out["error"], strict=True))
    for ok in ("ok_gray.png", "ok_rgba.png", "ok_16bit.png", "ct.dcm"):
        assert err[ok] == ""
        assert out.loc[out["path"] == ok, "prediction"].item() in ("normal", "pneumonia")
    assert "corrupt.png" in err["corrupt.png"] and "cannot decode" in err["corrupt.png"]
    assert "empty.png" in err["empty.png"] and "0 bytes" in err["empty.png"]
    assert "ecg.dcm" in err["ecg.dcm"] and "no pixel data" in err["ecg.dcm"]
    assert "cut.dcm" in err["cut.dcm"] and "truncated" in err["cut.dcm"]
    assert "missing.png" in err["missing.png"] and "not found" in err["missing.png"]
    assert "no image path" in err[""]
    assert (out.loc[out["error"] != "", "prob_normal"] == "").all()

    # a whole folder: one row per image file, the same errors
    n, n_err = predict_file(root / "b", d, tmp_path / "out2.csv")
    assert (n, n_err) == (8, 4)


def test_evaluate_reports_unknown_labels_and_missing_files(trained, tmp_path):
    root, csv, _ = trained
    df = pd.read_csv(csv)
    df["path"] = [str((root / p).resolve()) for p in df["path"]]
    df.loc[0, "label"] = "covid"          # not a training class
    df.loc[1, "path"] = str(root / "gone.png")
    df.to_csv(tmp_path / "ext.csv", index=False)
    res = evaluate(root / "b", tmp_path / "ext.csv", tmp_path / "ev")
    assert res.n_rows == 28 and res.n_errors == 2
    errors = res.predictions["error"]
    assert "label not seen in training" in errors[0]
    assert "gone.png" in errors[1] and "not found" in errors[1]
    assert (errors[2:] == "").all()


def test_training_data_errors_name_the_file_and_row(tmp_path):
    csv = manifest(tmp_path, n_per_class=8)
    df = pd.read_csv(csv)
    (tmp_path / "images" / "0_03.png").write_bytes(b"")
    with pytest.raises(DataError) as e:
        train(load_config(image_config(csv)), tmp_path / "b", **QUIET)
    msg = str(e.value)
    assert "manifest.csv" in msg and "0_03.png" in msg and "0 bytes" in msg
    assert f"row {int(np.flatnonzero(df['path'] == 'images/0_03.png')[0]) + 1}" in msg

    # a test manifest with a label the training data does not have
    csv2 = manifest(tmp_path / "t", n_per_class=4)
    t = pd.read_csv(csv2)
    t.loc[2, "label"] = "covid"
    t.to_csv(csv2, index=False)
    (tmp_path / "images" / "0_03.png").write_bytes((tmp_path / "images" / "0_04.png").read_bytes())
    with pytest.raises(DataError, match="label not seen in training") as e:
        train(load_config(image_config(csv, test=str(csv2))), tmp_path / "b2", **QUIET)
    assert "row 3" in str(e.value)


def test_folder_multiclass_balance_and_per_class_metrics(tmp_path):
    root = image_folder(tmp_path / "data", n_per_class=10, classes=("a", "b", "c"))
    cfg = load_config(image_config(root, balance="loss", channels=3), overrides=[
        "train.epochs=1"])
    bundle = train(cfg, tmp_path / "b", **QUIET)
    test = bundle.metrics["test"]
    for key in ("auroc_macro", "auroc_micro", "sensitivity_a", "specificity_c",
                "confusion_a_as_b"):
        assert key in test
    counts = sum(test[f"confusion_{a}_as_{b}"]["value"] for a in "abc" for b in "abc")
    assert counts == bundle.manifest["splits"]["test"]["rows"]
    assert bundle.task.class_weights_ is not None and bundle.task.channels_ == 3


def test_npz_official_split_sampler_and_pretrained_weights(tmp_path):
    npz = IMAGES / "pneumoniamnist_tiny.npz"
    cfg = load_config(image_config(npz, size=16, balance="sampler"),
                      overrides=["train.epochs=1"])
    b1 = train(cfg, tmp_path / "b1", **QUIET)
    assert {k: v["rows"] for k, v in b1.manifest["splits"].items()} == {
        "train": 120, "val": 40, "test": 40}
    cfg2 = load_config(image_config(npz, size=16), overrides=[
        "train.epochs=1", f'model.weights="{tmp_path / "b1" / "model.safetensors"}"'])
    b2 = train(cfg2, tmp_path / "b2", **QUIET)
    # predict on an npz: its test part
    n, n_err = predict_file(b2, npz, tmp_path / "p.csv")
    assert (n, n_err) == (40, 0)
    again = load_bundle(tmp_path / "b2")  # no pretrained file needed to reload
    assert again.task.channels_ == 1


@pytest.mark.parametrize("model", ["simple_cnn", "resnet18", "resnet50", "densenet121"])
def test_grad_cam_for_every_architecture(trained, tmp_path, model):
    """Grad-CAM on a bundle of each architecture (the trained task state with that network's
    weights, untrained for the big ones: training them is covered elsewhere and slow here)."""
    import torch

    from healthnn.bundle import save_bundle

    root, csv, bundle = trained
    if model == "simple_cnn":
        path = root / "b"
    else:
        cfg = load_config(image_config(csv, model=model, group="patient"))
        task = bundle.task
        torch.manual_seed(0)
        net = type(task)(cfg)
        net.load_state_dict(task.state_dict())
        path = tmp_path / model
        save_bundle(path, config=cfg, task=net, model=net.build_model().eval(), metrics={},
                    manifest={})
    # explain images of other sizes: overlays have each image's own size
    d = tmp_path / "x"
    write_png(d / "wide.png", np.pad(synthetic(0, 3, size=20), ((0, 0), (0, 16))))
    write_png(d / "tall.png", np.pad(synthetic(1, 4, size=20), ((0, 10), (0, 0))))
    (d / "broken.png").write_bytes(b"not a png")
    written = explain(path, d, tmp_path / "cams", target_class="pneumonia")
    from PIL import Image

    assert len(written) == 2
    assert sorted(Image.open(p).size for p in written) == [(20, 30), (36, 20)]
    for p in written:
        assert "gradcam_pneumonia" in p.name
    summary = pd.read_csv(tmp_path / "cams" / "gradcam.csv", keep_default_na=False)
    assert "broken.png" in summary.loc[summary["path"] == "broken.png", "error"].item()
    assert set(summary.loc[summary["error"] == "", "class"]) == {"pneumonia"}


def test_worker_processes_and_decoding_beyond_the_cache(tmp_path):
    """cache_mb = 0: images are decoded again per batch, in two DataLoader workers; the
    predictions equal those of the cached pipeline for the same weights."""
    csv = manifest(tmp_path, n_per_class=8)
    cfg = load_config(image_config(csv, cache_mb=0, workers=2), overrides=["train.epochs=1"])
    bundle = train(cfg, tmp_path / "b", **QUIET)
    assert any("decoding on the fly" in n for n in bundle.manifest["notes"])
    df = pd.read_csv(csv).drop(columns="label")
    lazy = bundle.predict(df, file=csv)
    bundle.task.config.data.cache_mb = 2048
    cached = bundle.predict(df, file=csv)
    pd.testing.assert_frame_equal(lazy, cached)
