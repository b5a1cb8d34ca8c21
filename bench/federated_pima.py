"""Federated (Flower FedAvg) against centralised training on the same rows.

Pima diabetes (as in bench/privacy_dp.py), stratified k-fold CV. The training rows of each fold
are dealt to 3 simulated sites, either at random (IID) or by age tercile (non-IID: each site
sees a different age range, as hospitals serving different populations do). Compared on the
same test fold: centralised training, FedAvg over the sites (Flower simulation, one local epoch
per round), and each site training alone (the mean over sites: what a hospital gets without
sharing anything).

    python bench/federated_pima.py [--folds 5] [--rounds 30] [--quick]
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
from sklearn.model_selection import StratifiedKFold

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from privacy_dp import pima  # noqa: E402

MODEL = {"hidden": [32, 16], "dropout": 0.1}


def _cfg(train_csv: Path, test_csv: Path, epochs: int, seed: int) -> dict:
    return {"task": "classification",
            "data": {"train": str(train_csv), "test": str(test_csv), "target": "diabetes"},
            "model": MODEL,
            "train": {"epochs": epochs, "batch_size": 32, "lr": 0.003, "patience": 15,
                      "progress": False, "seed": seed},
            "eval": {"bootstrap": 50}}


def run(folds: int, rounds: int, epochs: int, seed: int) -> dict:
    import healthnn

    df = pima()
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    res: dict[str, list[float]] = {}
    quiet = {"log": lambda m: None}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k, (tr, te) in enumerate(skf.split(df, df["diabetes"])):
            train, test = df.iloc[tr].copy(), df.iloc[te].copy()
            rng = np.random.default_rng(seed + k)
            sites = {"IID": rng.permutation(len(train)) % 3,
                     "non-IID (age)": np.searchsorted(
                         np.quantile(train["age"], [1 / 3, 2 / 3]), train["age"], side="right")}
            test.to_csv(tmp / "test.csv", index=False)
            train.to_csv(tmp / "train.csv", index=False)
            b = healthnn.train(_cfg(tmp / "train.csv", tmp / "test.csv", epochs, seed + k),
                               tmp / f"c{k}", **quiet)
            res.setdefault("centralised", []).append(b.metrics["test"]["auroc"]["value"])
            for name, site in sites.items():
                train["site"] = np.array(["A", "B", "C"])[site]
                train.to_csv(tmp / "train_sites.csv", index=False)
                cfg = _cfg(tmp / "train_sites.csv", tmp / "test.csv", epochs, seed + k)
                cfg["federated"] = {"site_column": "site", "rounds": rounds, "local_epochs": 1}
                b = healthnn.train(cfg, tmp / f"f{k}", **quiet)
                res.setdefault(f"FedAvg, {name}", []).append(b.metrics["test"]["auroc"]["value"])
                alone = []
                for s in "ABC":
                    part = train[train["site"] == s].drop(columns="site")
                    part.to_csv(tmp / "alone.csv", index=False)
                    b = healthnn.train(_cfg(tmp / "alone.csv", tmp / "test.csv", epochs,
                                            seed + k), tmp / f"a{k}{s}", **quiet)
                    alone.append(b.metrics["test"]["auroc"]["value"])
                res.setdefault(f"one site alone, {name}", []).append(statistics.fmean(alone))
            print(f"fold {k + 1}/{folds}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in res.items()),
                  file=sys.stderr, flush=True)
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=60, help="centralised and site-alone epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 folds, 3 rounds, 5 epochs")
    args = ap.parse_args(argv)
    if args.quick:
        args.folds, args.rounds, args.epochs = 2, 3, 5
    started = time.time()
    res = run(args.folds, args.rounds, args.epochs, args.seed)
    print(f"\nPima diabetes, stratified {args.folds}-fold CV, 3 sites, MLP [32, 16]; FedAvg "
          f"{args.rounds} rounds x 1 local epoch ({time.time() - started:.0f} s)")
    print("| training | test AUROC, mean ± sd over folds |")
    print("|---|---|")
    for name, vals in res.items():
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        print(f"| {name} | {statistics.fmean(vals):.3f} ± {sd:.3f} |")
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "federated_pima.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
