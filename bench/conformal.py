"""Split-conformal uncertainty on the demo data: empirical coverage on held-out test rows.

    python bench/conformal.py [--seeds 3] [--alpha 0.1] [--quick]

For each demo model (heart-disease MLP, PneumoniaMNIST CNN, ESOL D-MPNN, Medical Abstracts
GRU; their own configs in src/healthnn/datasets), trained once per seed with a different data
split and training seed: the coverage of the 1 - alpha prediction sets / intervals on the
test rows (calibrated on the validation rows, as ``healthnn train`` does), the mean set size
(classes) or interval width, and the number of calibration rows. The guarantee is marginal
coverage >= 1 - alpha in expectation over splits; one test set of n rows scatters around it
by about sqrt(alpha (1 - alpha) / n). Survival models get no conformal sets (not computed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, load_average, machine, markdown_table, write_json  # noqa: E402

DATASETS = Path(__file__).resolve().parent.parent / "src" / "healthnn" / "datasets"
MODELS = {"heart (mlp)": "heart.toml", "pneumonia (simple_cnn)": "pneumonia.toml",
          "esol (dmpnn)": "esol.toml", "abstracts (bigru)": "notes.toml"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--quick", action="store_true", help="2 epochs, 1 seed")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    import healthnn
    from healthnn.config import load_config

    seeds = 1 if args.quick else args.seeds
    results = []
    with tempfile.TemporaryDirectory(prefix="healthnn-bench-conformal-") as tmp:
        for name in args.models:
            for seed in range(seeds):
                overrides = [f"split.seed={seed}", f"train.seed={42 + seed}",
                             f"eval.conformal_alpha={args.alpha}", "eval.bootstrap=50",
                             "report.enabled=false", "train.progress=false"]
                if args.quick:
                    overrides.append("train.epochs=2")
                cfg = load_config(DATASETS / MODELS[name], overrides=overrides)
                b = healthnn.train(cfg, Path(tmp) / f"{MODELS[name]}-{seed}", log=lambda m: None)
                test = b.metrics["test"]
                size = test.get("conformal_set_size") or test.get("conformal_width")
                r = {"model": name, "seed": seed, "alpha": args.alpha,
                     "coverage": test["conformal_coverage"]["value"],
                     "size": size["value"], "size_kind": "classes" if
                     "conformal_set_size" in test else "width",
                     "n_calibration": b.conformal["n_calibration"],
                     "n_test": b.manifest["splits"]["test"]["rows"]}
                results.append(r)
                print(f"{name} seed {seed}: coverage {r['coverage']:.3f}, {r['size_kind']} "
                      f"{r['size']:.3f}", file=sys.stderr, flush=True)
    rows = []
    for name in args.models:
        rs = [r for r in results if r["model"] == name]
        cov = np.array([r["coverage"] for r in rs])
        n_test = rs[0]["n_test"]
        se = np.sqrt(args.alpha * (1 - args.alpha) / n_test)
        rows.append([name, f"{1 - args.alpha:g}", len(rs), n_test,
                     str(rs[0]["n_calibration"]),
                     f"{cov.mean():.3f} ({cov.min():.3f}-{cov.max():.3f})", f"{se:.3f}",
                     f"{np.mean([r['size'] for r in rs]):.3f} {rs[0]['size_kind']}"])
    table = markdown_table(["model", "target coverage", "splits", "test rows",
                            "calibration (val) rows", "test coverage mean (min-max)",
                            "sampling sd of one test set", "mean set size / width"], rows)
    print(table)
    write_json("conformal", {"command": command_line(), "machine": machine(),
                             "load_average": load_average(), "results": results,
                             "table": table})


if __name__ == "__main__":
    main()
