"""ICU in-hospital mortality, PhysioNet/CinC Challenge 2012 set A, stratified 5-fold CV.

Data: the set-A stay files (two tar.xz, read as they are) and Outcomes-a.txt from ``--data``
(default: $HEALTHNN_PHYSIONET2012 or /work/shared/data/tabular/physionet2012). 3996 stays have a
file (554 deaths among the 4000 outcomes; 4 RecordIDs have no file and are left out, as the
pipeline reports).

Folds: ``StratifiedKFold(5, shuffle=True, random_state=0)`` over the stays with a file. For each
fold the raw events of the training part and of the test part are written as long Parquet
tables and healthnn trains through ``healthnn.train(config, out)`` with ``[data] train`` /
``test`` (reading, cleaning with the PhysioNet 2012 plausibility ranges and -1 placeholders,
aggregates, preprocessing and the early-stopping split all happen inside healthnn, on the
training part only). Models (bench/configs/ehr_physionet2012.toml):

* ``mlp``: per-stay aggregates (first, last, min, max, mean, count, slope, sum, hour of the
  last measurement of 37 variables in the first 24 h, the last 24 h and the whole 48 h, plus
  age, sex, height) -> median imputation + indicators -> MLP, a 5-seed ensemble;
* ``grud``: GRU-D (hidden 64) on an hourly grid (48 steps) with the statics;
* ``mlp + grud``: the mean of the two models' probabilities (equal weights, fixed in advance);
* SAPS-I: the score in Outcomes-a.txt (-1 = not recorded: the training part's median), on the
  same test stays.

Metrics: AUROC of the pooled out-of-fold predictions with a 95% stratified bootstrap interval
(``healthnn.metrics.bootstrap``, 1000 resamples) and mean ± sd over folds; the challenge's
event-1 score min(sensitivity, PPV) of the decisions. The decision threshold never sees the
test fold: healthnn chooses it on the fold's validation (early-stopping) stays with ``[eval]
operating_point = "prevalence"`` (flag the top q of the validation probabilities, q = the
training part's death rate) and saves it in the bundle; the script reads it from there (for
``mlp + grud`` it applies the same rule, ``healthnn.metrics.operating_point``, to the mean of
the two models' validation probabilities; for SAPS-I, to the training part's scores). For
comparison the table also shows event-1 with the earlier rule (the threshold that maximises
min(Se, PPV) on the same validation stays). Published: GRU-D AUROC 0.8424 ± 0.0012 on set A
(Che et al. 2018, Sci Rep 8:6085, Table 2); event-1 0.5353 best and SAPS-I 0.3125 on the hidden
set C (Silva et al. 2012) - a different test set, shown for orientation only.

    python bench/ehr_physionet2012.py [--quick] [--folds 5] [--data DIR] [--models mlp grud]
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
    CONFIGS, command_line, fmt_mean_sd, load_toml, machine, markdown_table, quiet_log,
    set_threads, versions, write_json,
)

DEFAULT_DATA = Path(os.environ.get("HEALTHNN_PHYSIONET2012",
                                   "/work/shared/data/tabular/physionet2012"))
TARGET = "In-hospital_death"
PUBLISHED = {"grud_auroc": 0.8424, "winner_event1_setC": 0.5353, "saps1_event1_setC": 0.3125}
RULE = "prevalence"  # healthnn.metrics.operating_point: flag the training prevalence


def event1(y: np.ndarray, decision: np.ndarray) -> float:
    """The challenge's event-1 score: min(sensitivity, positive predictive value)."""
    tp = float(np.sum((decision == 1) & (y == 1)))
    se = tp / max(float(np.sum(y == 1)), 1.0)
    ppv = tp / max(float(np.sum(decision == 1)), 1.0)
    return min(se, ppv)


def fold_config(cfg: dict, train: Path, test: Path, outcomes: Path, k: int, quick: bool) -> dict:
    c = json.loads(json.dumps(cfg))
    c["task"] = "event_classification"
    c["data"] = {"train": str(train), "test": str(test), "outcomes": str(outcomes),
                 "target": TARGET, "positive": "1", "format": "long", "id": "RecordID",
                 "variables": "physionet2012", "ranges": "physionet2012",
                 "missing_values": [-1], "static": ["Age", "Gender", "Height", "ICUType"],
                 "categorical": ["ICUType"], "windows": [[0, 48]],
                 **cfg.get("data", {})}  # the model's own windows / aggregates
    c["split"] = {"seed": k}
    c["train"].update(seed=k, progress=False, device="cpu")
    # the decision threshold: chosen by healthnn on the fold's validation stays, saved in the
    # bundle (the rule is fixed in advance: flag the training prevalence)
    c["eval"] = {"bootstrap": 0, "operating_point": RULE}
    if quick:
        c["train"]["ensemble"] = 1
    c["report"] = {"enabled": False}
    if quick:
        c["train"]["epochs"] = 2
    return c


def run(args) -> dict:
    import healthnn
    from healthnn.data.events import read_events
    from healthnn.metrics import auroc, bootstrap, operating_point
    from sklearn.model_selection import StratifiedKFold

    data = Path(args.data)
    outcomes = pd.read_csv(data / "Outcomes-a.txt", dtype={"RecordID": str})
    started = time.perf_counter()
    ev, _ = read_events(data, format="physionet2012")
    read_seconds = time.perf_counter() - started
    ev = ev[["stay", "time", "variable", "value"]].rename(columns={"stay": "RecordID"})
    with_file = outcomes[outcomes["RecordID"].isin(set(ev["RecordID"]))].reset_index(drop=True)
    if args.quick:  # a stratified sample of stays, for testing the script
        from sklearn.model_selection import train_test_split

        with_file, _ = train_test_split(with_file, train_size=args.quick_stays, random_state=0,
                                        stratify=with_file[TARGET])
        with_file = with_file.reset_index(drop=True)
    y = with_file[TARGET].to_numpy(dtype=int)
    saps = with_file["SAPS-I"].to_numpy(dtype=float)
    saps = np.where(saps < 0, np.nan, saps)
    cfgs = load_toml(CONFIGS / args.config)
    models = list(args.models)
    names = models + (["mlp + grud"] if {"mlp", "grud"} <= set(models) else []) + ["SAPS-I"]
    oof = {m: np.full(len(y), np.nan) for m in names}
    # decisions under each threshold rule (all chosen without the test fold): RULE, the
    # primary; "min_se_ppv" on the same validation stays (the earlier protocol), for comparison
    rules = [RULE, "min_se_ppv"]
    decision = {r: {m: np.zeros(len(y), dtype=int) for m in names} for r in rules}
    per_fold = {m: {"auroc": [], **{f"event1_{r}": [] for r in rules}} for m in names}
    chosen = {m: [] for m in names}
    seconds = {m: 0.0 for m in models}
    epochs = {m: [] for m in models}
    skf = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    with tempfile.TemporaryDirectory(prefix="bench-ehr-") as tmp:
        tmp = Path(tmp)
        out_csv = tmp / "outcomes.csv"
        outcomes.to_csv(out_csv, index=False)
        for k, (itr, ite) in enumerate(skf.split(with_file, y)):
            tr, te = tmp / f"train{k}.parquet", tmp / f"test{k}.parquet"
            ids_tr = set(with_file["RecordID"].iloc[itr])
            ids_te = with_file["RecordID"].iloc[ite].tolist()
            ev[ev["RecordID"].isin(ids_tr)].to_parquet(tr, index=False)
            ev[ev["RecordID"].isin(set(ids_te))].to_parquet(te, index=False)
            val_probs, thresholds = {}, {r: {} for r in rules}
            prev = float(y[itr].mean())  # the training part's prevalence
            for m in models:
                cfg = fold_config(cfgs[m], tr, te, out_csv, k, args.quick)
                t0 = time.perf_counter()
                seen: dict = {}
                bundle = healthnn.train(cfg, tmp / f"{m}{k}", log=quiet_log, collect=seen)
                seconds[m] += time.perf_counter() - t0
                epochs[m].append(bundle.manifest["training"]["epochs_run"])
                pred = pd.read_csv(tmp / f"{m}{k}" / "predictions_test.csv",
                                   dtype={"RecordID": str}).set_index("RecordID")
                oof[m][ite] = pred.loc[ids_te, "prob_1"].to_numpy(dtype=float)
                task = seen["task"]
                out_val, y_val = seen["val"]
                val_probs[m] = ((task.codes(y_val) == 1).astype(int),
                                task.probabilities(out_val)[:, 1])
                thresholds[RULE][m] = bundle.task.operating_point_["threshold"]  # as saved
            if "mlp + grud" in names:
                oof["mlp + grud"][ite] = (oof["mlp"][ite] + oof["grud"][ite]) / 2
                val_probs["mlp + grud"] = (val_probs["mlp"][0],
                                           (val_probs["mlp"][1] + val_probs["grud"][1]) / 2)
            for m, (yv, pv) in val_probs.items():
                for r in rules:
                    if r not in thresholds or m not in thresholds[r]:
                        thresholds[r][m] = operating_point(yv, pv, r, prevalence=prev)[
                            "threshold"]
            med = np.nanmedian(saps[itr])
            s_tr, s_te = np.nan_to_num(saps[itr], nan=med), np.nan_to_num(saps[ite], nan=med)
            oof["SAPS-I"][ite] = s_te
            for r in rules:  # SAPS-I: chosen on the training part (no model is fitted)
                thresholds[r]["SAPS-I"] = operating_point(y[itr], s_tr, r)["threshold"]
            for m in names:
                per_fold[m]["auroc"].append(auroc(y[ite], oof[m][ite]))
                chosen[m].append(thresholds[RULE][m])
                for r in rules:
                    decision[r][m][ite] = (oof[m][ite] >= thresholds[r][m]).astype(int)
                    per_fold[m][f"event1_{r}"].append(event1(y[ite], decision[r][m][ite]))
            print(f"[ehr] fold {k}: " + ", ".join(
                f"{m} AUROC {per_fold[m]['auroc'][-1]:.3f} E1 "
                f"{per_fold[m][f'event1_{RULE}'][-1]:.3f}" for m in names),
                file=sys.stderr, flush=True)
    results = {"stays": int(len(y)), "deaths": int(y.sum()),
               "outcome_rows_without_file": int(len(outcomes) - outcomes["RecordID"].isin(
                   set(ev["RecordID"])).sum()),
               "saps_missing": int(np.isnan(saps).sum()), "read_seconds": round(read_seconds, 1),
               "models": {}}
    for m in names:
        pooled = bootstrap(lambda yy, pp: {"auroc": auroc(yy, pp)}, [y, oof[m]],
                           n_resamples=1000, seed=0, strata=y)["auroc"]
        r_m = {"fold_auroc": per_fold[m]["auroc"], "pooled_auroc": pooled,
               "thresholds": chosen[m],
               # not an estimate (chosen on the test folds): how far a threshold can go
               "best_possible_event1_on_test": operating_point(y, oof[m], "min_se_ppv")[
                   "min_se_ppv"]}
        for r in rules:
            r_m[f"fold_event1_{r}"] = per_fold[m][f"event1_{r}"]
            r_m[f"pooled_event1_{r}"] = bootstrap(
                lambda yy, dd: {"event1": event1(yy, dd)}, [y, decision[r][m]],
                n_resamples=1000, seed=0, strata=y)["event1"]
        if m in seconds:
            r_m.update(seconds=round(seconds[m], 1), epochs=epochs[m])
        results["models"][m] = r_m
    return results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 400 stays, 2 folds, 2 epochs, no seed ensemble")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with set-a (tar.xz or files) and Outcomes-a.txt")
    p.add_argument("--models", nargs="+", default=["mlp", "grud"], choices=["mlp", "grud"])
    p.add_argument("--config", default="ehr_physionet2012.toml",
                   help="model settings in bench/configs (ehr_physionet2012_round1.toml: the "
                   "first round's models, for comparison on the same folds)")
    args = p.parse_args(argv)
    args.quick_stays = 400
    if args.quick:
        args.folds = 2
    set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    results = {"benchmark": "ehr_physionet2012", "command": command_line(), "quick": args.quick,
               "threads": args.threads, "folds": args.folds, "published": PUBLISHED,
               "config_file": args.config, "config": load_toml(CONFIGS / args.config),
               "machine": machine(),
               "versions": versions("healthnn", "torch", "scikit-learn", "numpy")}
    results.update(run(args))
    stem = "ehr_physionet2012" + ("" if args.config == "ehr_physionet2012.toml"
                                  else "_" + Path(args.config).stem.split("_")[-1])
    path = write_json(stem + ("_quick" if args.quick else ""), results)
    print(report(results))
    print(f"\nresults: {path}")
    return results


def report(results: dict) -> str:
    header = ["model", "AUROC pooled out-of-fold [95% CI]", "AUROC mean ± sd over folds",
              f"event-1 pooled [95% CI], threshold: {RULE} on val",
              "event-1 mean ± sd", "event-1 pooled, threshold: max min(Se, PPV) on val",
              "published"]
    pub = {"grud": f"GRU-D AUROC {PUBLISHED['grud_auroc']} (set A, Che et al. 2018)",
           "SAPS-I": f"event-1 {PUBLISHED['saps1_event1_setC']} (hidden set C)",
           "mlp + grud": f"winner event-1 {PUBLISHED['winner_event1_setC']} (hidden set C)"}
    ci = "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]"
    rows = []
    for m, r in results["models"].items():
        rows.append([m, ci.format(**r["pooled_auroc"]), fmt_mean_sd(r["fold_auroc"]),
                     ci.format(**r[f"pooled_event1_{RULE}"]),
                     fmt_mean_sd(r[f"fold_event1_{RULE}"]),
                     ci.format(**r["pooled_event1_min_se_ppv"]), pub.get(m, "")])
    timing = "; ".join(f"{m} {r['seconds']:.0f} s, epochs {r['epochs']}"
                       for m, r in results["models"].items() if "seconds" in r)
    return (markdown_table(header, rows)
            + f"\n\n{results['stays']} stays, {results['deaths']} deaths, {results['folds']} "
            f"folds; SAPS-I missing (-1) for {results['saps_missing']} stays (training median)"
            f"; SAPS-I thresholds on the training part; training: {timing}; reading "
            f"{results['read_seconds']} s")


if __name__ == "__main__":
    main()
