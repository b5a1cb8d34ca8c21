"""ICU in-hospital mortality, PhysioNet/CinC Challenge 2012: train on set A, score set B.

External validation (issue 21). Data from ``--data`` (default: $HEALTHNN_PHYSIONET2012 or
/work/shared/data/tabular/physionet2012): the corrected set A and set B, each as two tar.xz of
stay files, read as they are (a temporary folder of links to each set's archives), with
Outcomes-a.txt and Outcomes-b.txt.

Per pre-registered configuration (BENCHMARKS.md, "External validation on set B"), one
``healthnn`` training with ``[data] train`` = set A and ``[data] test`` = set B (the outcome
table: both outcome files stacked; their RecordIDs do not overlap). healthnn splits set A into
fitting and validation stays (15%, stratified), stops early and chooses the decision threshold
on the validation stays (``[eval] operating_point = "prevalence"``), saves it in the bundle, and
only then scores set B. On the same fitted features (the bundle's own preprocessing of the
windowed aggregates: median imputation, missingness indicators, standardisation, one-hot
ICUType) and the same fitting / validation stays, two baselines are fitted in the same run:

* ``xgboost``: gradient-boosted trees (learning rate 0.05, depth 4, row and column subsampling
  0.8, up to 1000 rounds, early stopping after 50 rounds on the validation stays' log loss);
  the settings of healthnn's ``xgboost`` baseline (issue 20), fixed before any look at set B;
* ``logistic``: L2 logistic regression (scikit-learn, C = 1, fitted on the fitting stays).

Their thresholds: the same rule on their validation-stay probabilities. SAPS-I: the score in
Outcomes-b.txt (-1 = not recorded: set A's median), threshold by the same rule on set A's
SAPS-I (no model is fitted).

Metrics on set B, each with a 95% stratified bootstrap interval (``healthnn.metrics.bootstrap``,
1000 resamples): AUROC, AUPRC, event-1 = min(Se, PPV) of the decisions at the saved threshold
(with Se and PPV), calibration slope and intercept (logistic recalibration of the
probabilities; not for SAPS-I, a points score), net benefit at a few thresholds (decision
curve; treat-all beside it), and the paired difference in AUROC between each network and each
baseline. Wall time of reading, training and scoring per configuration.

    python bench/ehr_external_b.py [--quick] [--data DIR] [--configs default round2_mlp]
    python bench/ehr_external_b.py --timing-only --configs default   # wall time, no metrics
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CONFIGS, command_line, load_average, load_toml, machine, markdown_table, quiet_log,
    set_threads, versions, write_json,
)

DEFAULT_DATA = Path(os.environ.get("HEALTHNN_PHYSIONET2012",
                                   "/work/shared/data/tabular/physionet2012"))
TARGET = "In-hospital_death"
RULE = "prevalence"
NET_BENEFIT_AT = [0.05, 0.1, 0.2, 0.3]
PUBLISHED = {"winner_event1_setC": 0.5353, "saps1_event1_setC": 0.3125}
# the pre-registered configurations (BENCHMARKS.md): name -> (file in bench/configs, section)
CONFIGURATIONS = {"default": None, "round2_mlp": ("ehr_physionet2012.toml", "mlp")}
SEED = 0


def event1_parts(y: np.ndarray, decision: np.ndarray) -> dict[str, float]:
    """Sensitivity, PPV and the challenge's event-1 score min(Se, PPV) of yes/no decisions.

    >>> event1_parts(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))
    {'event1': 0.5, 'sensitivity': 0.5, 'ppv': 0.5}
    """
    tp = float(np.sum((decision == 1) & (y == 1)))
    se = tp / max(float(np.sum(y == 1)), 1.0)
    ppv = tp / max(float(np.sum(decision == 1)), 1.0)
    return {"event1": min(se, ppv), "sensitivity": se, "ppv": ppv}


def config_of(name: str, train: Path, test: Path, outcomes: Path, quick: bool) -> dict:
    """The healthnn config of one pre-registered configuration."""
    c: dict = {"model": {"name": "mlp"}, "train": {}}
    if CONFIGURATIONS[name] is not None:
        file, section = CONFIGURATIONS[name]
        c = json.loads(json.dumps(load_toml(CONFIGS / file)[section]))
    c["task"] = "event_classification"
    c["data"] = {"train": str(train), "test": str(test), "outcomes": str(outcomes),
                 "target": TARGET, "positive": "1", **c.get("data", {})}
    c["split"] = {"seed": SEED}
    c["train"].update(seed=SEED, progress=False, device="cpu")
    c["eval"] = {"bootstrap": 0, "operating_point": RULE}
    c["report"] = {"enabled": False}
    # the baselines are this script's own (as pre-registered and run before healthnn's
    # [baseline] landed): healthnn's are switched off so set B is not scored twice
    c["baseline"] = {"models": []}
    if quick:
        c["train"].update(epochs=2, ensemble=1)
    return c


def _links(tmp: Path, data: Path, prefix: str) -> Path:
    """A folder of links to one set's archives (healthnn reads a folder of tar.xz)."""
    folder = tmp / prefix
    folder.mkdir()
    archives = sorted(data.glob(f"{prefix}_part*.tar.xz"))
    if not archives:
        raise SystemExit(f"no {prefix}_part*.tar.xz in {data}")
    for a in archives:
        (folder / a.name).symlink_to(a.resolve())
    return folder


def outcome_tables(data: Path, quick: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes-a.txt and Outcomes-b.txt (``--quick``: a stratified 400 of each)."""
    tables = []
    for s in ("a", "b"):
        t = pd.read_csv(data / f"Outcomes-{s}.txt", dtype={"RecordID": str})
        if quick:
            from sklearn.model_selection import train_test_split

            t, _ = train_test_split(t, train_size=400, random_state=0, stratify=t[TARGET])
        tables.append(t.reset_index(drop=True))
    return tables[0], tables[1]


def fit_baselines(x: dict, y: dict) -> dict[str, dict[str, np.ndarray]]:
    """Gradient-boosted trees and logistic regression on the encoded features: probabilities
    on ``val`` and ``test`` (fitted on ``train``; the trees stop early on ``val``)."""
    from sklearn.linear_model import LogisticRegression

    try:
        import xgboost as xgb
    except ImportError as e:  # the [baselines] extra (xgboost-cpu) pulls it
        raise SystemExit("this benchmark needs xgboost: pip install xgboost-cpu") from e
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "eta": 0.05,
              "max_depth": 4, "subsample": 0.8, "colsample_bytree": 0.8,
              "tree_method": "hist", "seed": SEED, "nthread": 1}
    dtr, dva = xgb.DMatrix(x["train"], label=y["train"]), xgb.DMatrix(x["val"], label=y["val"])
    bst = xgb.train(params, dtr, num_boost_round=1000, evals=[(dva, "val")],
                    early_stopping_rounds=50, verbose_eval=False)
    rounds = (0, bst.best_iteration + 1)
    out = {"xgboost": {s: bst.predict(xgb.DMatrix(x[s]), iteration_range=rounds)
                       for s in ("val", "test")}}
    lr = LogisticRegression(C=1.0, max_iter=2000, random_state=SEED).fit(x["train"], y["train"])
    out["logistic"] = {s: lr.predict_proba(x[s])[:, 1] for s in ("val", "test")}
    return out


def metrics_fn(with_probabilities: bool):
    """The set-B metrics of ``(y, score, decision)``, for :func:`healthnn.metrics.bootstrap`."""
    from healthnn.metrics import auprc, auroc, calibration_slope_intercept, net_benefit

    def fn(y, s, d):
        m = {"auroc": auroc(y, s), "auprc": auprc(y, s), **event1_parts(y, d)}
        if with_probabilities:
            m["cal_slope"], m["cal_intercept"] = calibration_slope_intercept(y, s)
            for t, nb in zip(NET_BENEFIT_AT, net_benefit(y, s, NET_BENEFIT_AT)):
                m[f"net_benefit@{t}"] = float(nb)
        return m
    return fn


def score_b(y: np.ndarray, scores: dict[str, dict], n_boot: int) -> dict:
    """Every model's metrics on set B with bootstrap intervals, and paired AUROC differences
    (each network minus each baseline and SAPS-I)."""
    from healthnn.metrics import auroc, bootstrap

    scored = np.all([np.isfinite(s["test"]) for s in scores.values()], axis=0)
    out = {}
    left_out = {"stays": int((~scored).sum()), "deaths": int(y[~scored].sum())}
    y = y[scored]
    scores = {m: {**s, "test": s["test"][scored]} for m, s in scores.items()}
    for m, s in scores.items():
        d = (s["test"] >= s["threshold"]).astype(int)
        out[m] = {"threshold": float(s["threshold"]), "flagged_share": float(d.mean()),
                  **{k: v for k, v in s.items() if k not in ("test", "threshold")},
                  "metrics": bootstrap(metrics_fn(m != "SAPS-I"), [y, s["test"], d],
                                       n_resamples=n_boot, seed=0, strata=y)}
    nets = [m for m in scores if scores[m].get("network")]
    others = [m for m in scores if not scores[m].get("network")]
    paired = {}
    for a in nets:  # against SAPS-I and the baselines on the same configuration's features
        for b in (o for o in others if o == "SAPS-I" or f"({scores[a]['config']} " in o):
            paired[f"{a} - {b}"] = bootstrap(
                lambda yy, pa, pb: {"auroc_difference": auroc(yy, pa) - auroc(yy, pb)},
                [y, scores[a]["test"], scores[b]["test"]], n_resamples=n_boot, seed=0,
                strata=y)["auroc_difference"]
    prev = float(y.mean())
    treat_all = {str(t): prev - (1 - prev) * t / (1 - t) for t in NET_BENEFIT_AT}
    return {"models": out, "paired_auroc": paired, "treat_all_net_benefit": treat_all,
            "set_b_scored": {"stays": int(len(y)), "deaths": int(y.sum())},
            "set_b_left_out": left_out}


def train_one(name: str, args, folders: dict[str, Path], outcomes: Path, tmp: Path,
              ids_b: list[str]) -> dict[str, dict]:
    """One configuration: healthnn trains on set A and scores set B; baselines on the same
    encoded features and split. Returns the set-B scores and thresholds of each model."""
    from healthnn.config import load_config
    from healthnn.metrics import operating_point
    from healthnn.pipeline import make_splits, new_task, read_training, run_split

    cfg = config_of(name, folders["a"], folders["b"], outcomes, args.quick)
    load = load_average()
    t0 = time.perf_counter()
    config = load_config(cfg)
    task = new_task(config)
    splits = make_splits(config, task, *read_training(config, task))
    t_read = time.perf_counter() - t0
    run = run_split(config, task, splits, tmp / name, log=quiet_log)
    t_all = time.perf_counter() - t0
    bundle = run.bundle
    pred = pd.read_csv(tmp / name / "predictions_test.csv",
                       dtype={"RecordID": str}).set_index("RecordID")
    thr = float(bundle.task.operating_point_["threshold"])
    # stays of set B that healthnn left out (no usable events; its notes name them): NaN
    p_b = pred["prob_1"].reindex(ids_b).to_numpy(dtype=float)
    saved = (pred["decision"].astype(str) == "1").to_numpy()
    if not np.array_equal(saved, pred["prob_1"].to_numpy(dtype=float) >= thr):
        raise SystemExit(f"{name}: the bundle's decisions differ from prob_1 >= threshold")
    timing = {"read_seconds": round(t_read, 1), "train_and_score_seconds": round(t_all, 1),
              "load_average_before": load, "load_average_after": load_average(),
              "epochs": bundle.manifest["training"]["epochs_run"]}
    net = f"{name} (network)"
    scores = {net: {"test": p_b, "threshold": thr, "network": True, "config": name,
                    **timing}}
    x, y, ids = {}, {}, {}
    for s in ("train", "val", "test"):
        part = splits[s]
        x[s] = bundle.task.encode(part.df, Path(cfg["data"]["train"]))[0].numpy()
        y[s] = (bundle.task.codes(part.y) == 1).astype(int)
        ids[s] = part.df["RecordID"].astype(str).tolist()
    order = pd.Series(np.arange(len(ids["test"])), index=ids["test"]).reindex(ids_b)
    kept = order.notna().to_numpy()
    order = order.fillna(0).to_numpy(dtype=int)
    prev = float(y["train"].mean())
    t1 = time.perf_counter()
    for m, p in fit_baselines(x, y).items():
        op = operating_point(y["val"], p["val"], RULE, prevalence=prev)
        scores[f"{m} ({name} features)"] = {"test": np.where(kept, p["test"][order], np.nan),
                                            "threshold": op["threshold"]}
    scores[net]["baselines_seconds"] = round(time.perf_counter() - t1, 1)
    scores[net]["features"] = int(x["train"].shape[1])
    scores[net]["stays"] = {s: len(ids[s]) for s in ids}
    scores[net]["deaths"] = {s: int(y[s].sum()) for s in y}
    return scores


def run(args) -> dict:
    from healthnn.metrics import operating_point

    data = Path(args.data)
    out_a, out_b = outcome_tables(data, args.quick)
    ids_b = out_b["RecordID"].tolist()
    y_b = out_b[TARGET].to_numpy(dtype=int)
    saps_a = out_a["SAPS-I"].to_numpy(dtype=float)
    med = float(np.median(saps_a[saps_a >= 0]))
    saps = {k: np.where(t["SAPS-I"].to_numpy(dtype=float) < 0, med,
                        t["SAPS-I"].to_numpy(dtype=float)) for k, t in (("a", out_a),
                                                                        ("b", out_b))}
    thr = operating_point(out_a[TARGET].to_numpy(dtype=int), saps["a"], RULE)["threshold"]
    scores = {"SAPS-I": {"test": saps["b"], "threshold": thr}}
    results = {"set_a": {"stays": len(out_a), "deaths": int(out_a[TARGET].sum())},
               "set_b": {"stays": len(out_b), "deaths": int(y_b.sum()),
                         "saps_missing": int((out_b["SAPS-I"] < 0).sum())},
               "saps_missing_set_a": int((saps_a < 0).sum())}
    with tempfile.TemporaryDirectory(prefix="bench-ehr-b-") as tmp:
        tmp = Path(tmp)
        folders = {s: _links(tmp, data, f"set-{s}") for s in ("a", "b")}
        outcomes = tmp / "outcomes.csv"
        pd.concat([out_a, out_b], ignore_index=True).to_csv(outcomes, index=False)
        for name in args.configs:
            print(f"[ehr-b] {name}: training on set A, scoring set B", file=sys.stderr,
                  flush=True)
            scores.update(train_one(name, args, folders, outcomes, tmp, ids_b))
    if args.timing_only:  # set B's outcomes are not used: not a look at set B
        results["timing"] = {m: {k: v for k, v in s.items() if k not in ("test", "threshold")}
                             for m, s in scores.items() if s.get("network")}
        return results
    results.update(score_b(y_b, scores, 200 if args.quick else 1000))
    return results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 400 stays of each set, 2 epochs, no seed ensemble")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with set-a_part*.tar.xz, set-b_part*.tar.xz, Outcomes-a.txt "
                   "and Outcomes-b.txt")
    p.add_argument("--configs", nargs="+", default=list(CONFIGURATIONS),
                   choices=list(CONFIGURATIONS), help="the pre-registered configurations")
    p.add_argument("--timing-only", action="store_true",
                   help="train and predict set B for the wall time only: no metric, set B's "
                   "outcomes unused (not a look at set B)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    results = {"benchmark": "ehr_external_b", "command": command_line(), "quick": args.quick,
               "threads": args.threads, "configs": args.configs, "published": PUBLISHED,
               "machine": machine(),
               "versions": versions("healthnn", "torch", "scikit-learn", "numpy", "xgboost",
                                    "xgboost-cpu"),
               "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    results.update(run(args))
    path = write_json("ehr_external_b" + ("_timing" if args.timing_only else "")
                      + ("_quick" if args.quick else ""), results)
    print(json.dumps(results["timing"], indent=1) if args.timing_only else report(results))
    print(f"\nresults: {path}")
    return results


def report(results: dict) -> str:
    """Markdown tables: the set-B metrics, the decision curve and the paired differences."""
    from healthnn.metrics.estimable import format_metric

    def ci(**m):
        return format_metric(m)

    keys = ["auroc", "auprc", "event1", "sensitivity", "ppv", "cal_slope", "cal_intercept"]
    rows = []
    for m, r in results["models"].items():
        mm = r["metrics"]
        rows.append([m] + [ci(**mm[k]) if k in mm else "n/a" for k in keys]
                    + [f"{r['threshold']:.3f}", f"{r['flagged_share']:.3f}"])
    main_t = markdown_table(["model", "AUROC", "AUPRC", "event-1 min(Se, PPV)", "Se", "PPV",
                             "calibration slope", "calibration intercept",
                             f"threshold ({RULE} rule on set A)", "share of set B flagged"],
                            rows)
    dc = [[m] + [ci(**r["metrics"][f"net_benefit@{t}"]) for t in NET_BENEFIT_AT]
          for m, r in results["models"].items() if f"net_benefit@{NET_BENEFIT_AT[0]}"
          in r["metrics"]]
    dc.append(["treat all"] + [f"{results['treat_all_net_benefit'][str(t)]:.3f}"
                               for t in NET_BENEFIT_AT])
    dc_t = markdown_table(["model"] + [f"net benefit at {t}" for t in NET_BENEFIT_AT], dc)
    pa = markdown_table(["AUROC difference on set B (paired bootstrap)", "value [95% CI]"],
                        [[k, ci(**v)] for k, v in results["paired_auroc"].items()])
    nets = {m: r for m, r in results["models"].items() if r.get("network")}
    timing = "; ".join(
        f"{m}: read {r['read_seconds']} s, read + train + score set B "
        f"{r['train_and_score_seconds']} s ({r['epochs']} epochs), load average "
        f"{r['load_average_before'][0]:.1f} before and {r['load_average_after'][0]:.1f} after, "
        f"baselines {r['baselines_seconds']} s, {r['features']} features, stays {r['stays']}, "
        f"deaths {r['deaths']}" for m, r in nets.items())
    b = results["set_b"]
    return (main_t + "\n\n" + dc_t + "\n\n" + pa
            + f"\n\nset A {results['set_a']['stays']} stays ({results['set_a']['deaths']} "
            f"deaths), set B {b['stays']} stays ({b['deaths']} deaths; SAPS-I missing for "
            f"{b['saps_missing']}: set A's median); scored: {results['set_b_scored']['stays']} "
            f"stays ({results['set_b_scored']['deaths']} deaths), left out by healthnn (no "
            f"usable events): {results['set_b_left_out']['stays']} stays "
            f"({results['set_b_left_out']['deaths']} deaths). {timing}")


if __name__ == "__main__":
    main()
