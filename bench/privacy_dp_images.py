"""Accuracy against the privacy budget on images: DP-SGD on PneumoniaMNIST.

MedMNIST v2 official split (bench/data/pneumoniamnist: 4708 train, 524 val, 624 test images,
28 x 28), healthnn's ``simple_cnn`` (BatchNorm replaced by GroupNorm for DP, with a message),
the same settings for every budget, without augmentation (DP-SGD's per-example clipping and
augmentation interact; kept off for a like-for-like comparison). Prints test AUROC with its
bootstrap interval and the epsilon actually spent, per budget.

    python bench/privacy_dp_images.py [--epsilons 1,3,8] [--epochs 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data" / "pneumoniamnist" / "pneumoniamnist.npz"


def run(epsilons: list[float | None], epochs: int, seed: int) -> list[dict]:
    import healthnn

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for eps in epsilons:
            name = "none" if eps is None else f"{eps:g}"
            train = {"epochs": epochs, "batch_size": 256, "lr": 0.002, "patience": epochs,
                     "progress": False, "seed": seed, "device": "cpu"}
            if eps is not None:
                train["privacy"] = {"epsilon": eps, "delta": 1e-5, "max_grad_norm": 1.0}
            cfg = {"task": "image_classification",
                   "data": {"train": str(DATA), "image_size": 28, "positive": "1",
                            "augment": False, "workers": 0},
                   "model": {"name": "simple_cnn"},
                   "train": train, "eval": {"bootstrap": 200}}
            started = time.time()
            b = healthnn.train(cfg, Path(tmp) / f"b_{name}", log=lambda m: None)
            m = b.metrics["test"]["auroc"]
            spent = b.metrics.get("privacy", {}).get("epsilon", {}).get("value")
            rows.append({"epsilon": name, "spent": spent, "auroc": m["value"],
                         "ci": [m["ci_low"], m["ci_high"]],
                         "accuracy": b.metrics["test"]["accuracy"]["value"],
                         "seconds": round(time.time() - started)})
            print(f"epsilon {name}: test AUROC {m['value']:.3f} ({rows[-1]['seconds']} s)",
                  file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epsilons", default="1,3,8")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs, epsilon 3 and none")
    args = ap.parse_args(argv)
    epsilons: list[float | None] = [float(e) for e in args.epsilons.split(",")] + [None]
    if args.quick:
        args.epochs, epsilons = 2, [3.0, None]
    started = time.time()
    rows = run(epsilons, args.epochs, args.seed)
    print(f"\nPneumoniaMNIST (official split), simple_cnn, {args.epochs} epochs, batch 256, "
          f"delta 1e-5, clipping norm 1.0 ({time.time() - started:.0f} s)")
    print("| epsilon (budget) | epsilon spent | test AUROC [95% CI] | test accuracy (0.5) |")
    print("|---|---|---|---|")
    for r in rows:
        spent = "–" if r["spent"] is None else f"{r['spent']:.2f}"
        print(f"| {r['epsilon']} | {spent} | {r['auroc']:.3f} [{r['ci'][0]:.3f}, "
              f"{r['ci'][1]:.3f}] | {r['accuracy']:.3f} |")
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "privacy_dp_images.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
