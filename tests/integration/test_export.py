"""ONNX export: every exportable model gives PyTorch's predictions within 1e-5 in ONNX Runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import MOLECULES, config_dict, make_table, molecule_config
from image_helpers import image_config, manifest

from healthnn import load_bundle, load_config, train
from healthnn.bundle_files import write_integrity
from healthnn.errors import BundleError, DataError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from healthnn.export import export_onnx, onnx_predictor  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def _train(cfg: dict, out: Path) -> Path:
    train(load_config(cfg), out, log=lambda m: None)
    return out


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A classification ensemble of two MLPs (ensembles export their members' outputs)."""
    root = tmp_path_factory.mktemp("table")
    df = make_table()
    df.to_csv(root / "t.csv", index=False)
    cfg = config_dict("classification", root / "t.csv",
                      categorical=["sex", "smoker"])
    cfg["train"].update(epochs=3, ensemble=2)
    path = _train(cfg, root / "b")
    return path, df, export_onnx(path)


def _same(b1, b2, df: pd.DataFrame) -> pd.DataFrame:
    """Both predictions, checked equal within 1e-5 (errors and columns identical)."""
    p1, p2 = b1.predict(df), b2.predict(df)
    assert list(p1.columns) == list(p2.columns)
    assert (p1["error"] == p2["error"]).all()
    num = p1.select_dtypes("number").columns
    np.testing.assert_allclose(p2[num].to_numpy(float), p1[num].to_numpy(float),
                               atol=1e-5, rtol=0)
    return p2


def test_table_ensemble_matches_pytorch_on_test_rows(table):
    path, df, result = table
    assert result.path == path / "model.onnx" and result.path.is_file()
    assert result.max_abs_diff <= 1e-5
    assert result.checked_on.startswith("the bundle's") and result.rows_checked == 48
    assert set(result.metrics) == {"torch", "onnx"}
    assert result.metrics["onnx"]["auroc"] == pytest.approx(result.metrics["torch"]["auroc"])
    test_rows = pd.read_csv(path / "predictions_test.csv")["row"] - 1
    got = _same(load_bundle(path), onnx_predictor(path), df.iloc[test_rows])
    assert {"prob_1_sd", "prob_0_sd"} <= set(got.columns)  # ensemble spread survives export


def test_bad_rows_are_reported_not_dropped(table):
    path, df, _ = table
    bad = df.head(5).astype({"age": object})
    bad.loc[2, "age"] = "old"
    got = _same(load_bundle(path), onnx_predictor(path), bad)
    assert got["error"].iloc[2] and (got["error"].drop(index=2) == "").all()


def test_quantized_copy_reports_metric_change(table, tmp_path):
    path, _, _ = table
    copy = shutil.copytree(path, tmp_path / "b")
    result = export_onnx(copy, quantize=True)
    assert result.int8_path == copy / "model.int8.onnx" and result.int8_path.is_file()
    assert set(result.metrics) == {"torch", "onnx", "int8"}
    assert result.int8_max_abs_diff > 0  # really quantised
    assert 0 <= result.metrics["int8"]["auroc"] <= 1
    p8 = onnx_predictor(copy, path=result.int8_path).predict(make_table().head(20))
    assert p8["prob_1"].between(0, 1).all()


def test_retrained_weights_refuse_a_stale_export(table, tmp_path):
    path, _, _ = table
    copy = shutil.copytree(path, tmp_path / "b")
    other = load_bundle(copy)
    from safetensors.torch import save_file

    sd = {k: v.clone() + 0.01 if v.is_floating_point() else v
          for k, v in other.model.state_dict().items()}
    save_file(sd, copy / "model.safetensors")
    write_integrity(copy)  # as a retraining into the folder would
    with pytest.raises(BundleError, match="different weights"):
        onnx_predictor(copy)


def test_missing_export_and_missing_data_say_what_to_do(table, tmp_path):
    path, _, _ = table
    copy = shutil.copytree(path, tmp_path / "b")
    (copy / "model.onnx").unlink()
    with pytest.raises(BundleError, match="model.onnx: this bundle file is missing"):
        onnx_predictor(copy)  # the integrity list notices first
    write_integrity(copy)
    with pytest.raises(BundleError, match="no ONNX export") as e:
        onnx_predictor(copy)
    assert "healthnn export" in e.value.hint
    with pytest.raises(DataError, match="file not found"):
        export_onnx(copy, data=tmp_path / "nope.csv")
    with pytest.raises(BundleError, match=r"\.onnx"):
        export_onnx(copy, out=tmp_path / "model.txt")


def test_survival_model(tmp_path):
    df = make_table(seed=3)
    df.to_csv(tmp_path / "s.csv", index=False)
    cfg = config_dict("survival", tmp_path / "s.csv", categorical=["sex", "smoker"])
    cfg["train"]["epochs"] = 2
    path = _train(cfg, tmp_path / "b")
    result = export_onnx(path)
    assert "c_index" in result.metrics["onnx"]
    _same(load_bundle(path), onnx_predictor(path), df)


def test_graph_model_with_dynamic_atoms_and_bonds(tmp_path):
    """D-MPNN inputs are flat graph tensors; batches of other sizes (and a molecule without
    bonds) must run in the exported graph."""
    cfg = molecule_config(MOLECULES / "esol_small.csv", "logS", "dmpnn")
    cfg["train"]["epochs"] = 1
    path = _train(cfg, tmp_path / "b")
    export_onnx(path, rows=16)
    df = pd.DataFrame({"smiles": ["C", "CCO", "not a smiles", "c1ccccc1O", "[Na+].[Cl-]"]})
    got = _same(load_bundle(path), onnx_predictor(path), df)
    assert got["error"].iloc[2] and got["error"].iloc[0] == ""


def test_image_cnn(tmp_path):
    csv = manifest(tmp_path / "img", n_per_class=8)
    cfg = image_config(csv)
    cfg["train"]["epochs"] = 1
    path = _train(cfg, tmp_path / "b")
    export_onnx(path)
    _same(load_bundle(path), onnx_predictor(path), pd.read_csv(csv))


def test_encrypted_bundle_export_is_sealed(table, tmp_path):
    from healthnn.privacy.encryption import decrypt_bundle, encrypt_bundle
    import os

    path, df, _ = table
    copy = shutil.copytree(path, tmp_path / "b")
    (copy / "model.onnx").unlink()
    key = os.urandom(32)
    encrypt_bundle(copy, key)
    with pytest.raises(BundleError, match="exported into the bundle"):
        export_onnx(copy, out=tmp_path / "elsewhere.onnx", key=key)
    export_onnx(copy, key=key)
    assert (copy / "model.onnx.enc").is_file() and not (copy / "model.onnx").exists()
    assert "model.onnx" in json.loads((copy / "encrypted.json").read_text())["files"]
    with pytest.raises(BundleError, match="no key"):
        onnx_predictor(copy)
    _same(load_bundle(copy, key=key), onnx_predictor(copy, key), df.head(30))
    decrypt_bundle(copy, key)
    assert (copy / "model.onnx").is_file()
    _same(load_bundle(copy), onnx_predictor(copy), df.head(30))
