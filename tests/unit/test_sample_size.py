"""Riley et al.'s minimum sample size: the published worked examples, the criteria's own
definitions on random inputs, and the check a training run makes (issue 22)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import FAST, config_dict, make_table

from healthnn.checks.sample_size import binary, continuous, max_r2cs_binary, survival
from healthnn.pipeline import train


def test_published_worked_examples():
    # Riley et al., BMJ 2020;368:m441 (and the pmsampsize examples built on them)
    assert binary(24, 0.174, 0.288).n == 662
    s = survival(30, 0.065, 2.07, 2, 0.051)
    assert s.n == 5143 and round(s.n * 0.065 * 2.07) == 692
    assert continuous(25, 0.2, 1.9, 0.6).n == 918  # Stat Med 2019 Part I, fat-free mass


@pytest.mark.parametrize("seed", range(20))
def test_each_binary_criterion_is_the_smallest_n_that_meets_its_definition(seed):
    r = np.random.default_rng(seed)
    p, prev = int(r.integers(2, 60)), float(r.uniform(0.03, 0.6))
    r2 = float(r.uniform(0.02, 0.9) * max_r2cs_binary(prev))
    s = binary(p, prev, r2)

    def van_houwelingen(n, r2cs):  # S = 1 + p / (n ln(1 - R2cs / S)) solved for S at n rows
        from scipy.optimize import brentq

        return brentq(lambda S: S - 1 - p / (n * math.log(1 - r2cs / S)), r2cs + 1e-9, 1.0)

    n1 = s.criteria["shrinkage"]
    assert van_houwelingen(n1, r2) >= 0.9 - 1e-9 > van_houwelingen(n1 - 1, r2)
    n3 = s.criteria["overall_risk"]
    half = lambda n: 1.959964 * math.sqrt(prev * (1 - prev) / n)  # noqa: E731
    assert half(n3) <= 0.05 + 1e-12 < half(n3 - 1)
    assert s.n == max(s.criteria.values())


def test_training_warns_below_the_minimum_and_reports_it(tmp_path):
    df = make_table(n=160)
    df.to_csv(tmp_path / "d.csv", index=False)
    cfg = config_dict("classification", tmp_path / "d.csv", target="outcome")
    cfg["train"] = dict(FAST)
    cfg["eval"] = {"bootstrap": 20}
    lines = []
    bundle = train(cfg, tmp_path / "b", log=lines.append)
    size = bundle.manifest["sample_size"]
    assert size["outcome"] == "binary"
    assert size["rows"] == bundle.manifest["splits"]["train"]["rows"]
    assert size["parameters"] == len(bundle.manifest["features"])
    assert size["n"] == binary(size["parameters"], size["prevalence"]).n
    assert not size["meets"] and any(m.startswith("warning: sample size:") for m in lines)
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    section = [s for s in report["sections"] if s["id"] == "sample_size"]
    assert section and "BELOW the minimum" in section[0]["text"]
    from healthnn.report.tripod import checklist

    item = [r for r in checklist(report, bundle.metrics) if r["item"] == "10"][0]
    assert "Riley et al." in item["text"] and item["status"] == "filled"


def test_not_applicable_to_images_text_and_multiclass():
    from healthnn.checks.sample_size import check_task

    class Inputs:  # a task whose inputs are not a fixed set of predictors
        def candidate_parameters(self):
            return None

        def development_outcome(self, y):
            return {"outcome": "binary", "prevalence": 0.3}

    assert check_task(Inputs(), {}, 100) is None
