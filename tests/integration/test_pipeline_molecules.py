"""Molecules end to end: train -> bundle -> reload -> predict/explain, and every bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from healthnn.bundle import load_bundle
from healthnn.config import load_config
from healthnn.errors import DataError
from healthnn.pipeline import evaluate, explain, predict_file, train
from helpers import MOLECULES, molecule_config

pytest.importorskip("rdkit")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("data, target, model, first_metric", [
    ("esol_small.csv", "logS", "dmpnn", "rmse"),
    ("bbbp_small.csv", "p_np", "fingerprint_mlp", "auroc"),
    ("tox21_small.csv", ["NR-AR", "NR-AhR", "SR-MMP"], "dmpnn", "auroc"),
])
def test_train_reload_predict(tmp_path, data, target, model, first_metric):
    cfg = load_config(molecule_config(MOLECULES / data, target, model))
    bundle = train(cfg, tmp_path / "b", log=lambda m: None)
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert list(metrics["test"])[0] == first_metric
    # issue 20: a random forest on Morgan counts beside the network, paired on the test rows
    assert list(metrics["test_baseline_random_forest"]) == list(metrics["test"])[
        :len(metrics["test_baseline_random_forest"])]
    assert first_metric in metrics["test_vs_baseline_random_forest"]
    assert ("auroc_delong" in metrics["test_vs_baseline_random_forest"]) == (model ==
                                                                            "fingerprint_mlp")
    if isinstance(target, list):  # macro mean first, then one entry per target
        assert {f"auroc_{t}" for t in target} <= set(metrics["test"])
    df = pd.read_csv(MOLECULES / data)
    again = load_bundle(tmp_path / "b")
    p1, p2 = bundle.predict(df), again.predict(df)
    pd.testing.assert_frame_equal(p1, p2)
    assert (p1["error"] == "").all()
    assert sorted(p1["rank"].tolist()) == list(range(1, len(df) + 1))
    saved = pd.read_csv(tmp_path / "b" / "predictions_test.csv")
    col = [c for c in saved.columns if c.startswith(("pred_", "prob_"))][0]
    np.testing.assert_allclose(saved[col], p2.iloc[saved["row"] - 1][col], rtol=1e-6)
    assert (saved["smiles"].to_numpy() == df["smiles"].iloc[saved["row"] - 1].to_numpy()).all()
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    examples = next(sec for sec in report["sections"] if sec["id"] == "examples")
    assert len(examples["plots"]) == 4 and all(p["svg_base64"] for p in examples["plots"])


def test_multitask_loss_skips_missing_labels():
    cfg = load_config(molecule_config(MOLECULES / "tox21_small.csv", ["NR-AR", "SR-MMP"],
                                      "dmpnn"))
    from healthnn.tasks.molecule import MoleculePropertyTask

    task = MoleculePropertyTask(cfg)
    task.kind_ = "binary"
    out = torch.tensor([[0.3, -1.0], [2.0, 0.5]])
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    loss = task.loss(out, {"y": y})
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([0.3, 2.0, 0.5]), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(loss, expected)
    assert task.loss(out, {"y": torch.full((2, 2), float("nan"))}) == 0


BAD_ROWS = [
    ("not_a_smiles", "C1CC(", 1.0),            # invalid
    ("empty", "", 2.0),                         # empty string
    ("huge", "C" * 260, 3.0),                   # very large molecule
    ("salt", "CC(=O)[O-].[Na+]", -0.5),         # salt: largest fragment kept
    ("metal", "[Cu+2].[O-]C(=O)c1ccccc1", -1.0),  # metal counter-ion
    ("organometal", "C[Hg]Cl", -2.0),           # metal inside the molecule: featurised
    ("dup1", "OCC", -0.1),                      # duplicate of ethanol with another label
]


def _with_bad_rows(tmp_path):
    df = pd.read_csv(MOLECULES / "esol_small.csv").head(60)
    extra = pd.DataFrame(BAD_ROWS, columns=["name", "smiles", "logS"])
    extra = pd.concat([extra, pd.DataFrame([("ethanol", "CCO", 1.1)], columns=extra.columns)])
    full = pd.concat([df, extra], ignore_index=True)
    full.to_csv(tmp_path / "bad.csv", index=False)
    return full


def test_bad_molecules_are_reported_and_the_rest_trains(tmp_path):
    full = _with_bad_rows(tmp_path)
    notes = []
    bundle = train(molecule_config(tmp_path / "bad.csv", "logS", "dmpnn"), tmp_path / "b",
                   log=notes.append)
    text = "\n".join(notes)
    assert "3 row(s) left out because their SMILES cannot be used" in text
    assert "row 61: invalid SMILES 'C1CC('" in text and "row 62: empty SMILES" in text
    assert "row 63: molecule too large: 260 heavy atoms" in text
    assert "the largest fragment was kept" in text
    assert "conflicting labels: rows 67, 68 ('logS': -0.1, 1.1)" in text
    assert sum(s["rows"] for s in bundle.manifest["splits"].values()) == len(full) - 3
    assert any("left out" in n for n in bundle.manifest["notes"])

    # predicting: bad rows get an error, the others a prediction; nothing is dropped
    lib = full.drop(columns="logS")
    lib.to_csv(tmp_path / "library.csv", index=False)
    n, n_err = predict_file(tmp_path / "b", tmp_path / "library.csv", tmp_path / "ranked.csv")
    out = pd.read_csv(tmp_path / "ranked.csv", keep_default_na=False)
    assert (n, n_err) == (len(full), 3)
    assert out.loc[60, "error"].startswith("column 'smiles': invalid SMILES")
    assert out.loc[61, "error"] == "column 'smiles': empty SMILES" and out.loc[61, "rank"] == ""
    assert out.loc[63:, "error"].eq("").all()
    assert out["name"].tolist() == full["name"].tolist()  # same rows, same order
    ranks = out.loc[out["error"] == "", "rank"].astype(int)
    assert sorted(ranks) == list(range(1, n - n_err + 1))
    best = out.loc[out["error"] == ""].astype({"rank": int, "pred_logS": float})
    assert best.sort_values("rank")["pred_logS"].is_monotonic_decreasing

    # evaluate reports the same rows
    result = evaluate(tmp_path / "b", tmp_path / "bad.csv", tmp_path / "ev")
    assert result.n_errors == 3 and "rmse" in result.metrics["test"]

    # explain: an SVG per usable molecule, the bad ones listed with their reason
    files = explain(tmp_path / "b", tmp_path / "library.csv", tmp_path / "ex", limit=100)
    svgs = [f for f in files if f.suffix == ".svg"]
    assert len(svgs) == len(full) - 3 and svgs[0].read_text().startswith("<?xml")
    table = pd.read_csv(tmp_path / "ex" / "attributions.csv", keep_default_na=False)
    assert len(table) == len(full) and (table["error"] != "").sum() == 3


def test_text_in_target_column(tmp_path):
    df = pd.read_csv(MOLECULES / "esol_small.csv")
    df["logS"] = df["logS"].astype(object)
    df.loc[9, "logS"] = "insoluble"
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError) as e:
        train(molecule_config(tmp_path / "t.csv", "logS", "dmpnn"), tmp_path / "b",
              log=lambda m: None)
    msg = str(e.value)
    assert "row 10" in msg and "column 'logS'" in msg and "'insoluble'" in msg


def test_missing_smiles_column(tmp_path):
    df = pd.read_csv(MOLECULES / "esol_small.csv").rename(columns={"smiles": "SMILES"})
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError) as e:
        train(molecule_config(tmp_path / "t.csv", "logS", "dmpnn"), tmp_path / "b",
              log=lambda m: None)
    assert "column 'smiles'" in str(e.value) and 'set [data] smiles = "SMILES"' in str(e.value)


def test_scaffold_split_in_the_pipeline(tmp_path):
    cfg = molecule_config(MOLECULES / "bbbp_small.csv", "p_np", "fingerprint_mlp")
    cfg["split"] = {"method": "scaffold", "test_size": 0.2, "val_size": 0.15}
    config = load_config(cfg)
    from healthnn.data.molecules import bemis_murcko_scaffolds
    from healthnn.tasks.molecule import MoleculePropertyTask

    task = MoleculePropertyTask(config)
    df = task.read(MOLECULES / "bbbp_small.csv")
    y, ok = task.labels(df, MOLECULES / "bbbp_small.csv")
    parts = task.split(df, y, test_size=0.2, val_size=0.15, seed=42)
    again = task.split(df, y, test_size=0.2, val_size=0.15, seed=42)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    mols = [p[0] for p in task._standardize(df["smiles"].tolist())]
    scaf = np.array(bemis_murcko_scaffolds(mols), dtype=object)
    sets = {k: {s for s in scaf[v] if s} for k, v in parts.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["val"])
    bundle = train(config, tmp_path / "b", log=lambda m: None)
    assert bundle.manifest["splits"]["test"]["rows"] == len(parts["test"])


def test_ensemble_of_seeds_gives_uncertainty(tmp_path):
    cfg = molecule_config(MOLECULES / "esol_small.csv", "logS", "dmpnn")
    cfg["train"].update(ensemble=2, epochs=2)
    bundle = train(cfg, tmp_path / "b", log=lambda m: None)
    assert bundle.manifest["ensemble"]["seeds"] == [42, 43]
    assert not list(tmp_path.glob("b/checkpoint*"))
    df = pd.read_csv(MOLECULES / "esol_small.csv").head(20)
    p1 = bundle.predict(df)
    assert (p1["pred_logS_sd"] > 0).all() and "rank_sd" not in p1
    pd.testing.assert_frame_equal(p1, load_bundle(tmp_path / "b").predict(df))
    members = bundle.model.members
    g, _ = bundle.task.encode(df, MOLECULES / "esol_small.csv")
    with torch.no_grad():
        each = [bundle.task.values(m.eval()(g))[:, 0] for m in members]
    np.testing.assert_allclose(p1["pred_logS_sd"], np.std(each, 0, ddof=1), rtol=1e-5)
    files = explain(bundle, MOLECULES / "esol_small.csv", tmp_path / "ex", limit=2)
    assert len(files) == 3


def test_kfold_cross_validation_for_molecules(tmp_path):
    """[split] method = "kfold" works for molecules: every usable row is tested exactly once."""
    from healthnn.tuning import cross_validate

    cfg = molecule_config(MOLECULES / "bbbp_small.csv", "p_np")
    cfg["split"] = {"method": "kfold", "folds": 3, "seed": 0}
    cfg["train"]["epochs"] = 1
    cfg["eval"]["bootstrap"] = 0
    result = cross_validate(cfg, tmp_path / "cv", log=lambda m: None)
    assert result["folds"] == 3 and sum(result["fold_rows"]) == result["rows"]
    assert 0.0 <= result["pooled"]["auroc"]["value"] <= 1.0
    assert len(result["per_fold"]) == 3


@pytest.mark.parametrize("by_scaffold", [False, True])
def test_kfold_keeps_each_molecule_or_scaffold_in_one_fold(tmp_path, by_scaffold):
    """Copies of one molecule (written differently) never sit in two folds, nor on both sides
    of a fold's validation split; with ``by_scaffold`` neither do molecules of one scaffold."""
    from rdkit import Chem

    from healthnn.data.molecules import bemis_murcko_scaffolds
    from healthnn.pipeline import fold_indices, training_rows
    from healthnn.pipeline.data import strata_of

    df = pd.read_csv(MOLECULES / "bbbp_small.csv")
    copies = df.head(30).copy()
    copies["smiles"] = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True, canonical=False)
                        for s in copies["smiles"]]
    pd.concat([df, copies]).to_csv(tmp_path / "d.csv", index=False)
    cfg = molecule_config(tmp_path / "d.csv", "p_np")
    cfg["split"] = {"method": "kfold", "folds": 4, "seed": 0, "by_scaffold": by_scaffold}
    config = load_config(cfg)
    task, data = training_rows(config)
    n, strata, groups = len(data), strata_of(config, task, data.y), task.fold_groups(data.df)
    assert n == len(df) + 30
    mols = [Chem.MolFromSmiles(s) for s in pd.read_csv(tmp_path / "d.csv")["smiles"]]
    key = (bemis_murcko_scaffolds(mols) if by_scaffold else [Chem.MolToSmiles(m) for m in mols])
    key = np.array([k or f"acyclic{i}" for i, k in enumerate(key)], dtype=object)
    folds = fold_indices(config, n, strata, groups)
    for part in ("test", "val"):
        sides = [set(key[f[part]]) for f in folds]
        others = [set(key[f["train"]]) for f in folds]
        for i, f in enumerate(folds):
            assert not sides[i] & others[i]
    tests = [set(key[f["test"]]) for f in folds]
    assert all(not tests[i] & tests[j] for i in range(4) for j in range(i + 1, 4))


def test_by_scaffold_is_for_kfold_of_molecules(tmp_path):
    from healthnn.errors import ConfigError

    cfg = molecule_config(MOLECULES / "bbbp_small.csv", "p_np")
    cfg["split"] = {"method": "auto", "by_scaffold": True}
    with pytest.raises(ConfigError, match="split.method = 'scaffold'"):
        load_config(cfg)
