"""Issue 20: what the [baseline] models cost in a default training run.

Trains the demo configs (heart: classification MLP; whas: DeepSurv) once each and reports the
CPU time (all threads) and wall time of the whole run and of the baseline hook (fitting every
baseline, scoring it on the test rows and the paired bootstrap with the network). CPU time is
reported because the wall time of a shared machine depends on its load.

    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/baseline_cost.py [heart whas ...]
    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/baseline_cost.py --demo OUT

``--demo OUT`` runs ``healthnn demo`` itself (its output: each model beside its baselines) and
adds up the baselines' share of the whole demo.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from healthnn.baselines import run as baseline_run
from healthnn.config import load_config
from healthnn.demo import dataset_path
from healthnn.pipeline import train


def _timed(fn, spent: dict[str, float]):
    def timed(*args, **kw):
        c, w = time.process_time(), time.time()
        try:
            return fn(*args, **kw)
        finally:
            spent["cpu"] += time.process_time() - c
            spent["wall"] += time.time() - w

    return timed


def demo(out: str) -> None:
    from healthnn.demo import run_demo

    spent = {"cpu": 0.0, "wall": 0.0}
    original = baseline_run.baseline_metrics
    baseline_run.baseline_metrics = _timed(original, spent)
    c, w = time.process_time(), time.time()
    try:
        run_demo(out)
    finally:
        baseline_run.baseline_metrics = original
    cpu, wall = time.process_time() - c, time.time() - w
    print(f"demo: {cpu:.1f} s CPU ({wall:.1f} s wall); baselines {spent['cpu']:.1f} s CPU "
          f"({spent['wall']:.1f} s wall) = {100 * spent['cpu'] / cpu:.0f}% of the CPU time, "
          f"{100 * spent['wall'] / wall:.0f}% of the wall time")


def measure(name: str) -> dict[str, float]:
    spent = {"cpu": 0.0, "wall": 0.0}
    original = baseline_run.baseline_metrics
    baseline_run.baseline_metrics = _timed(original, spent)
    try:
        with tempfile.TemporaryDirectory() as out:
            c, w = time.process_time(), time.time()
            train(load_config(dataset_path(f"{name}.toml")), Path(out) / name,
                  log=lambda m: None)
            total = {"cpu": time.process_time() - c, "wall": time.time() - w}
    finally:
        baseline_run.baseline_metrics = original
    return {"run_cpu": total["cpu"], "run_wall": total["wall"],
            "baseline_cpu": spent["cpu"], "baseline_wall": spent["wall"]}


def main(names: list[str]) -> None:
    for name in names or ["heart", "whas"]:
        r = measure(name)
        print(f"{name}: run {r['run_cpu']:.1f} s CPU ({r['run_wall']:.1f} s wall); baselines "
              f"{r['baseline_cpu']:.1f} s CPU ({r['baseline_wall']:.1f} s wall) = "
              f"{100 * r['baseline_cpu'] / r['run_cpu']:.0f}% of the run's CPU time, "
              f"{100 * r['baseline_wall'] / r['run_wall']:.0f}% of its wall time")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--demo"]:
        demo(sys.argv[2])
    else:
        main(sys.argv[1:])
