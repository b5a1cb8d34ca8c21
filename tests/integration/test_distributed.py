"""Two processes on the CPU (gloo): the same job as one process, within noise."""

import json
import subprocess
import sys

import pandas as pd
from helpers import make_table


def test_two_process_training_matches_single_process(tmp_path):
    make_table(600, seed=5).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "c.toml").write_text(
        'task = "classification"\n[data]\ntrain = "d.csv"\ntarget = "outcome"\n'
        'categorical = ["smoker"]\n[train]\nepochs = 15\nbatch_size = 32\nprogress = false\n'
        '[eval]\nbootstrap = 20\n')
    base = [sys.executable, "-m", "healthnn", "train", str(tmp_path / "c.toml")]
    one = subprocess.run([*base, "--out", str(tmp_path / "one")], capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([*base, "--out", str(tmp_path / "two"), "--nproc", "2"],
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("bundle:") == 1  # only the main process reports and writes
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())["test"]["auroc"]["value"]
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())["test"]["auroc"]["value"]
    assert abs(m1 - m2) < 0.08, (m1, m2)
    preds = pd.read_csv(tmp_path / "two" / "predictions_test.csv")
    assert preds["prob_1"].between(0, 1).all()
