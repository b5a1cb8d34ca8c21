"""bench/ehr_external_b.py's scoring (issue 21): event-1 at the saved threshold, stays without a
network prediction left out of every model's row and counted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ehr_external_b.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ehr_external_b", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_event1_parts(bench):
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    d = np.array([1, 1, 0, 1, 1, 1, 0, 0])
    m = bench.event1_parts(y, d)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["ppv"] == pytest.approx(2 / 5)
    assert m["event1"] == pytest.approx(2 / 5)


def test_score_b_same_stays_and_thresholds(bench):
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.2).astype(int)
    net = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.15, n), 0.01, 0.99)
    net[:7] = np.nan  # 7 stays healthnn left out
    base = np.clip(0.2 + 0.2 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    saps = 10 + 8 * y + rng.normal(0, 4, n)
    scores = {"net": {"test": net, "threshold": 0.5, "network": True, "config": "c"},
              "gbt (c features)": {"test": base, "threshold": 0.4},
              "SAPS-I": {"test": saps, "threshold": 15.0}}
    out = bench.score_b(y, scores, 50)
    assert out["set_b_left_out"] == {"stays": 7, "deaths": int(y[:7].sum())}
    assert out["set_b_scored"]["stays"] == n - 7
    keep = np.arange(n) >= 7
    expect = bench.event1_parts(y[keep], (net[keep] >= 0.5).astype(int))["event1"]
    assert out["models"]["net"]["metrics"]["event1"]["value"] == pytest.approx(expect)
    auroc = {m: r["metrics"]["auroc"]["value"] for m, r in out["models"].items()}
    assert auroc["gbt (c features)"] < auroc["net"]
    assert "cal_slope" not in out["models"]["SAPS-I"]["metrics"]  # a points score
    assert set(out["paired_auroc"]) == {"net - gbt (c features)", "net - SAPS-I"}
    assert out["paired_auroc"]["net - gbt (c features)"]["value"] > 0
    assert out["models"]["net"]["flagged_share"] == pytest.approx(
        float(np.mean(net[keep] >= 0.5)))
