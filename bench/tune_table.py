"""A table data set tuned against default settings, both scored by 5-fold cross-validation.

Data: Pima Indians diabetes (bench/data/pima_diabetes; zeros in glucose, blood pressure, skin
thickness, insulin and BMI mean "not measured" and are made missing), 768 rows, 268 positive.

* default: ``healthnn train`` with ``[split] method = "kfold"``, ``folds = 5`` and healthnn's
  default ``mlp`` settings (bench/configs/classification_mlp.toml);
* tuned: ``healthnn tune`` with the same folds: a *nested* cross-validation. For each outer
  fold an Optuna search (TPE, median pruning) chooses hidden layers, dropout, learning rate,
  weight decay and batch size by validation AUROC on the other four folds; the chosen
  configuration is then scored on the outer fold, which played no part in the choice.

Both rows give the AUROC of the pooled out-of-fold predictions (all 768 rows, each scored by a
model that never saw it) with a 95% stratified bootstrap interval, and the mean ± sd over folds.
Published for comparison (other splits): ADAP 76% sensitivity = specificity (Smith et al. 1988).

    python bench/tune_table.py --quick      # 8 trials per search
    python bench/tune_table.py              # 30 trials per search
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CONFIGS, OUT, command_line, load_toml, machine, markdown_table, quiet_log, set_threads,
    versions, write_json,
)
from classification_cv import load  # noqa: E402

SPACE = {
    "model": {"hidden": [[32], [64, 64], [128, 64], [32, 32, 32]],
              "dropout": {"low": 0.0, "high": 0.5}},
    "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True},
              "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
              "batch_size": [32, 64, 128]},
}


def fmt(m: dict) -> str:
    return f"{m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    from healthnn.tuning import cross_validate, tune

    trials = args.trials or (8 if args.quick else 30)
    work = OUT / "tune_table"
    work.mkdir(parents=True, exist_ok=True)
    df, categorical = load("pima")
    df.to_csv(work / "pima.csv", index=False)
    base = load_toml(CONFIGS / "classification_mlp.toml")
    cfg = {
        "task": "classification",
        "data": {"train": str(work / "pima.csv"), "target": "outcome", "positive": "1",
                 "categorical": categorical},
        "split": {"method": "kfold", "folds": 5, "seed": 2024},
        "model": base["model"],
        "train": {**base["train"], "progress": False, "device": "cpu"},
        "eval": {"bootstrap": 1000},
        "report": {"enabled": False},
    }
    started = time.time()
    t = time.time()
    default = cross_validate(cfg, work / "default", log=quiet_log)
    default_s = time.time() - t
    t = time.time()
    tuned = tune({**cfg, "tune": {"metric": "auroc", "seed": 0, **SPACE}}, work / "tuned",
                 trials=trials, log=quiet_log)
    tuned_s = time.time() - t
    nested = tuned["nested_cv"]
    per_fold_tuned = [f["test"]["auroc"]["value"] for f in nested["outer"]]
    import statistics

    rows = [
        ["default (mlp defaults), 5-fold CV", fmt(default["pooled"]["auroc"]),
         f"{default['mean_sd']['auroc']['mean']:.3f} ± {default['mean_sd']['auroc']['sd']:.3f}",
         fmt(default["pooled"]["brier"]), f"{default_s:.0f}"],
        [f"tuned (Optuna, {trials} trials per fold), nested 5-fold CV",
         fmt(nested["pooled"]["auroc"]),
         f"{statistics.fmean(per_fold_tuned):.3f} ± {statistics.stdev(per_fold_tuned):.3f}",
         fmt(nested["pooled"]["brier"]), f"{tuned_s:.0f}"],
    ]
    table = markdown_table(["Pima diabetes (768 rows)", "pooled out-of-fold AUROC [95% CI]",
                            "AUROC mean ± sd over folds", "pooled Brier [95% CI]", "seconds"], rows)
    print(table)
    print("\nChosen per outer fold: " + "; ".join(
        f"fold {f['fold']}: " + ", ".join(f"{k.split('.')[1]}={_short(v)}"
                                          for k, v in f["best_values"].items())
        for f in nested["outer"]))
    print(f"Final model (search on all rows, held-out 20% test): test AUROC "
          f"{fmt(tuned['final']['test']['auroc'])}")
    write_json("tune_table", {
        "command": command_line(), "quick": args.quick, "trials": trials, "space": SPACE,
        "default": default, "tuned": tuned, "table": table, "machine": machine(),
        "versions": versions("torch", "optuna", "numpy"),
        "seconds": round(time.time() - started, 1)})


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()
