"""[eval] operating_point_folds (issue 8, third round): the decision threshold chosen on
out-of-fold outputs over the training and validation rows instead of the validation split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import healthnn
import healthnn.pipeline as pipeline
import healthnn.pipeline.run as runs
from healthnn.config import load_config
from healthnn.errors import ConfigError
from healthnn.metrics import operating_point
from tests.helpers import config_dict, make_table


def _config(csv, **eval_):
    cfg = config_dict("classification", csv)
    cfg["model"] = {"name": "mlp", "hidden": [8]}
    cfg["train"].update(epochs=2)
    cfg["eval"] = {"bootstrap": 0, "operating_point": "prevalence", **eval_}
    cfg["report"] = {"enabled": False}
    return cfg


def test_threshold_chosen_on_out_of_fold_outputs(tmp_path, monkeypatch):
    csv = tmp_path / "t.csv"
    make_table(200).to_csv(csv, index=False)
    calls = []
    original = runs.run_at

    def recording(config, data, idx, out, **kw):  # every run: its row positions and outputs
        run = original(config, data, idx, out, **kw)
        calls.append((idx, {"test": (run.scored.outputs["test"], run.splits["test"].y)}))
        return run

    monkeypatch.setattr(runs, "run_at", recording)
    idx = {"train": np.arange(0, 120), "val": np.arange(120, 160), "test": np.arange(160, 200)}
    config = load_config(_config(csv, operating_point_folds=3))
    _, data = pipeline.training_rows(config)
    bundle = runs.run_at(config, data, idx, tmp_path / "b", log=lambda m: None).bundle
    inner, outer = calls[:-1], calls[-1]
    assert outer[0] is idx and len(inner) == 3
    pool = set(range(160))
    tests = [set(c[0]["test"].tolist()) for c in inner]
    assert set().union(*tests) == pool and sum(map(len, tests)) == 160  # a partition
    for c, t in zip(inner, tests):
        fit_rows = set(c[0]["train"].tolist()) | set(c[0]["val"].tolist())
        assert not fit_rows & t  # never scored by a model that saw it
        assert fit_rows | t == pool  # and the outer test rows are never used
    # the saved threshold: the rule applied to those out-of-fold outputs
    task = bundle.task
    out = np.concatenate([task.probabilities(c[1]["test"][0])[:, 1] for c in inner])
    y = np.concatenate([task.codes(c[1]["test"][1]) for c in inner]) == 1
    y_train = task.codes({k: v[idx["train"]] for k, v in _labels(task, csv).items()}) == 1
    expected = operating_point(y, out, "prevalence", prevalence=float(y_train.mean()))
    op = task.operating_point_
    assert op["threshold"] == pytest.approx(expected["threshold"])
    assert op["n"] == 160 and op["chosen_on"].startswith("out-of-fold")
    assert not (tmp_path / "b" / "_operating_point_folds").exists()
    # the decision column uses it
    pred = bundle.predict(pd.read_csv(csv).head(30))
    assert ((pred["prob_1"] >= op["threshold"]).astype(int).astype(str)
            == pred["decision"].astype(str)).all()


def _labels(task, csv):
    df = task.read(csv)
    y, _ = task.labels(df, csv)
    return y


def test_bad_operating_point_folds_are_config_errors(tmp_path):
    csv = tmp_path / "t.csv"
    make_table(60).to_csv(csv, index=False)
    with pytest.raises(ConfigError) as e:
        load_config(_config(csv, operating_point_folds=1))
    assert e.value.key == "eval.operating_point_folds"
    with pytest.raises(ConfigError, match="operating_point"):
        load_config(_config(csv, operating_point="none", operating_point_folds=3))
    with pytest.raises(ConfigError) as e:  # too few positives for 40 folds
        healthnn.train(_config(csv, operating_point_folds=40), tmp_path / "b",
                       log=lambda m: None)
    assert e.value.key == "eval.operating_point_folds"
