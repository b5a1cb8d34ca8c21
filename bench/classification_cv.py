"""Risk classification, stratified 5-fold CV: healthnn ``mlp`` vs scikit-learn logistic regression.

Data: Pima Indians diabetes (bench/data/pima_diabetes; zeros in glucose, blood pressure, skin
thickness, insulin and BMI mean "not measured" and are made missing), Cleveland heart disease
(bench/data/heart_disease_uci; '?' is missing; outcome num > 0), and scikit-learn's breast cancer
(WDBC; outcome malignant).

For each fold, healthnn trains through ``healthnn.train(config_dict, out_dir)`` on the fold's
training part (``[data] train``; it carves its own early-stopping rows out of it) and predicts the
fold's test part (``[data] test``), with the hyperparameters in bench/configs/classification_mlp.toml
(defaults, not tuned). Its preprocessing (median imputation with missingness indicators,
standardisation, one-hot categoricals) is fitted inside healthnn on the training part only.
Logistic regression is a scikit-learn pipeline (median imputation with missingness indicators +
standardisation for numeric columns, one-hot for the same categorical columns; L2, C = 1) on
the same folds, in the same run.

AUROC is reported two ways: mean ± sd over the 5 folds, and the AUROC of the pooled
out-of-fold predictions with a 95% stratified percentile bootstrap interval
(``healthnn.metrics.bootstrap``, 1000 resamples).

    python bench/classification_cv.py [--quick] [--sets pima heart breast_cancer]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CONFIGS, DATA, command_line, fmt_mean_sd, load_toml, machine, markdown_table, quiet_log,
    set_threads, versions, write_json,
)

PIMA_COLS = ["pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi",
             "pedigree", "age", "outcome"]
PIMA_ZERO_MISSING = ["glucose", "blood_pressure", "skin_thickness", "insulin", "bmi"]
HEART_COLS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang",
              "oldpeak", "slope", "ca", "thal", "num"]
LABEL = {"pima": "Pima diabetes", "heart": "Cleveland heart disease",
         "breast_cancer": "Breast cancer (WDBC)"}


def load(name: str) -> tuple[pd.DataFrame, list[str]]:
    """The table with an ``outcome`` column (1 = positive) and its categorical columns."""
    if name == "pima":
        df = pd.read_csv(DATA / "pima_diabetes/pima-indians-diabetes.csv", header=None,
                         names=PIMA_COLS)
        for c in PIMA_ZERO_MISSING:
            df[c] = df[c].where(df[c] != 0)
        return df, []
    if name == "heart":
        df = pd.read_csv(DATA / "heart_disease_uci/processed.cleveland.data", header=None,
                         names=HEART_COLS, na_values="?")
        df["outcome"] = (df.pop("num") > 0).astype(int)
        return df, ["cp", "restecg", "slope", "thal"]
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        b = load_breast_cancer(as_frame=True)
        df = b.data.copy()
        df.columns = [c.replace(" ", "_") for c in df.columns]
        df["outcome"] = (b.target == 0).astype(int)  # sklearn: 0 = malignant
        return df, []
    raise ValueError(name)


def logistic_pipeline(numeric: list[str], categorical: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = [("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                   StandardScaler()), numeric)]
    if categorical:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore")), categorical))
    return make_pipeline(ColumnTransformer(parts), LogisticRegression(C=1.0, max_iter=5000))


def run_set(name: str, cfg: dict, folds: int, quick: bool, tmp: Path) -> dict:
    import healthnn
    from healthnn.metrics import auroc, bootstrap
    from sklearn.model_selection import StratifiedKFold

    df, cats = load(name)
    y = df["outcome"].to_numpy()
    features = [c for c in df.columns if c != "outcome"]
    numeric = [c for c in features if c not in cats]
    oof = {"healthnn": np.full(len(df), np.nan), "logreg": np.full(len(df), np.nan)}
    per_fold = {"healthnn": [], "logreg": []}
    seconds = {"healthnn": 0.0, "logreg": 0.0}
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for k, (itr, ite) in enumerate(skf.split(df, y)):
        tr_csv, te_csv = tmp / f"{name}{k}_train.csv", tmp / f"{name}{k}_test.csv"
        df.iloc[itr].to_csv(tr_csv, index=False)
        df.iloc[ite].to_csv(te_csv, index=False)
        c = json.loads(json.dumps(cfg))
        c["task"] = "classification"
        c.setdefault("data", {}).update(train=str(tr_csv), test=str(te_csv), target="outcome",
                                        positive="1", categorical=cats)
        c.setdefault("split", {})["seed"] = k
        c.setdefault("train", {}).update(seed=k, progress=False, device="cpu")
        if quick:
            c["train"]["epochs"] = 5
            c.setdefault("eval", {})["bootstrap"] = 10
        started = time.perf_counter()
        healthnn.train(c, tmp / f"{name}{k}", log=quiet_log)
        seconds["healthnn"] += time.perf_counter() - started
        pred = pd.read_csv(tmp / f"{name}{k}" / "predictions_test.csv")
        p = pred["prob_1"].to_numpy()
        oof["healthnn"][ite] = p
        per_fold["healthnn"].append(auroc(y[ite], p))

        started = time.perf_counter()
        lr = logistic_pipeline(numeric, cats).fit(df.iloc[itr][features], y[itr])
        p = lr.predict_proba(df.iloc[ite][features])[:, 1]
        seconds["logreg"] += time.perf_counter() - started
        oof["logreg"][ite] = p
        per_fold["logreg"].append(auroc(y[ite], p))
        print(f"[{name}] fold {k}: healthnn {per_fold['healthnn'][-1]:.4f} "
              f"logreg {per_fold['logreg'][-1]:.4f}", file=sys.stderr, flush=True)
    out = {"rows": len(df), "positives": int(y.sum()), "features": features,
           "categorical": cats, "folds": folds}
    for m in ("healthnn", "logreg"):
        pooled = bootstrap(lambda yy, pp: {"auroc": auroc(yy, pp)}, [y, oof[m]],
                           n_resamples=1000, seed=0, strata=y)["auroc"]
        out[m] = {"fold_auroc": per_fold[m], "pooled_auroc": pooled,
                  "seconds": round(seconds[m], 2)}
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 5 epochs, 2 folds")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sets", nargs="+", default=list(LABEL), choices=list(LABEL))
    args = p.parse_args(argv)
    set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    folds = 2 if args.quick else args.folds
    cfg = load_toml(CONFIGS / "classification_mlp.toml")
    results = {"benchmark": "classification_cv", "command": command_line(), "quick": args.quick,
               "threads": args.threads, "config": cfg, "machine": machine(),
               "versions": versions("healthnn", "torch", "scikit-learn", "numpy"), "sets": {}}
    with tempfile.TemporaryDirectory(prefix="bench-cls-") as tmp:
        for name in args.sets:
            results["sets"][name] = run_set(name, cfg, folds, args.quick, Path(tmp))
    path = write_json("classification_cv" + ("_quick" if args.quick else ""), results)
    print(report(results))
    print(f"\nresults: {path}")
    return results


def report(results: dict) -> str:
    header = ["data set (rows, positives)", "healthnn mlp: AUROC mean ± sd over folds",
              "healthnn: pooled out-of-fold AUROC [95% CI]", "logistic regression: mean ± sd",
              "logistic regression: pooled [95% CI]"]
    rows = []
    for name, r in results["sets"].items():
        h, lr = r["healthnn"], r["logreg"]
        rows.append([f"{LABEL[name]} ({r['rows']}, {r['positives']})",
                     fmt_mean_sd(h["fold_auroc"]),
                     "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]".format(**h["pooled_auroc"]),
                     fmt_mean_sd(lr["fold_auroc"]),
                     "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]".format(**lr["pooled_auroc"])])
    return markdown_table(header, rows)


if __name__ == "__main__":
    main()
