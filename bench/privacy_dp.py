"""Accuracy against the privacy budget: DP-SGD at several epsilons against non-private training.

Pima diabetes (bench/data/pima_diabetes; zeros in glucose, blood pressure, skin thickness,
insulin and BMI mean missing), stratified 5-fold CV; the same MLP and settings for every
budget. Prints test AUROC (mean and sd over folds) per epsilon.

    python bench/privacy_dp.py [--folds 5] [--epsilons 1,3,8] [--epochs 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

BENCH = Path(__file__).resolve().parent
COLUMNS = ["pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi",
           "pedigree", "age", "diabetes"]
ZERO_IS_MISSING = ["glucose", "blood_pressure", "skin_thickness", "insulin", "bmi"]


def pima() -> pd.DataFrame:
    df = pd.read_csv(BENCH / "data" / "pima_diabetes" / "pima-indians-diabetes.csv",
                     header=None, names=COLUMNS)
    df[ZERO_IS_MISSING] = df[ZERO_IS_MISSING].replace(0, np.nan)
    return df


def run(folds: int, epsilons: list[float | None], epochs: int, seed: int) -> dict:
    import healthnn

    df = pima()
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    results: dict[str, list[float]] = {}
    spent: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k, (tr, te) in enumerate(skf.split(df, df["diabetes"])):
            df.iloc[tr].to_csv(tmp / f"train{k}.csv", index=False)
            df.iloc[te].to_csv(tmp / f"test{k}.csv", index=False)
            for eps in epsilons:
                name = "none" if eps is None else f"{eps:g}"
                train = {"epochs": epochs, "batch_size": 64, "lr": 0.003, "patience": epochs,
                         "progress": False, "seed": seed + k}
                if eps is not None:
                    train["privacy"] = {"epsilon": eps, "delta": 1e-5, "max_grad_norm": 1.0}
                cfg = {"task": "classification",
                       "data": {"train": str(tmp / f"train{k}.csv"),
                                "test": str(tmp / f"test{k}.csv"), "target": "diabetes"},
                       "model": {"hidden": [32, 16], "dropout": 0.1},
                       "train": train, "eval": {"bootstrap": 50}}
                b = healthnn.train(cfg, tmp / f"b{k}_{name}", log=lambda m: None)
                results.setdefault(name, []).append(b.metrics["test"]["auroc"]["value"])
                if eps is not None:
                    spent.setdefault(name, []).append(b.metrics["privacy"]["epsilon"]["value"])
                print(f"fold {k + 1}/{folds} epsilon {name:>4}: test AUROC "
                      f"{results[name][-1]:.3f}", file=sys.stderr)
    return {"auroc": results, "epsilon_spent": spent}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epsilons", default="1,3,8")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 folds, 10 epochs (smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.folds, args.epochs = 2, 10
    epsilons: list[float | None] = [float(e) for e in args.epsilons.split(",")] + [None]
    started = time.time()
    res = run(args.folds, epsilons, args.epochs, args.seed)
    print(f"\nPima diabetes, stratified {args.folds}-fold CV, MLP [32, 16], {args.epochs} epochs "
          f"({time.time() - started:.0f} s)")
    print("| epsilon (budget) | epsilon spent | test AUROC, mean ± sd over folds |")
    print("|---|---|---|")
    for name, vals in res["auroc"].items():
        sp = res["epsilon_spent"].get(name)
        spent = f"{statistics.fmean(sp):.2f}" if sp else "–"
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        print(f"| {name} | {spent} | {statistics.fmean(vals):.3f} ± {sd:.3f} |")
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "privacy_dp.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
