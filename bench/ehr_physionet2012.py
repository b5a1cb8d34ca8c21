"""ICU in-hospital mortality, PhysioNet/CinC Challenge 2012 set A, stratified 5-fold CV.

Data: the set-A stay files (``set-a*.tar.xz``, read as they are; set B in the same folder is
not read) and Outcomes-a.txt from ``--data`` (default: $HEALTHNN_PHYSIONET2012 or
/work/shared/data/tabular/physionet2012). Stays without a file or without any time-series value
(static lines only) are left out and counted, as the pipeline reports. The rounds 1-3 in
BENCHMARKS.md ran on the defective early copy of set A (3996 stays with a file, 554 deaths);
the folder now holds the corrected release (4,000 stays). ``--config
ehr_physionet2012_default.toml --models mlp``: healthnn's default event model (issue 21).

Folds: ``StratifiedKFold(5, shuffle=True, random_state=0)`` over the stays with a file. For each
fold the raw events of the training part and of the test part are written as long Parquet
tables and healthnn trains through ``healthnn.train(config, out)`` with ``[data] train`` /
``test`` (reading, cleaning with the PhysioNet 2012 plausibility ranges and -1 placeholders,
aggregates, preprocessing and the early-stopping split all happen inside healthnn, on the
training part only).

Third round (the default, bench/configs/ehr_physionet2012_round3.toml, see
:func:`run_crossfit`): inside every outer fold, 5 inner folds give each member (mlp,
mlp_reg, GRU-D hidden 32) out-of-fold predictions over the whole training part and a bag of 5
models for the test fold; a logistic stacker over the members' OOF logits and every threshold
are fitted on those OOF predictions only.

Second round (``--config ehr_physionet2012.toml``):

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

    python bench/ehr_physionet2012.py [--quick] [--folds 5] [--data DIR] [--config FILE]
    python bench/ehr_physionet2012.py --config ehr_physionet2012.toml [--models mlp grud]
    python bench/ehr_physionet2012.py --config ehr_physionet2012_transformer.toml \
        --models event_transformer
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
DEFAULT_CONFIG = "ehr_physionet2012_round3.toml"


def event1(y: np.ndarray, decision: np.ndarray) -> float:
    """The challenge's event-1 score: min(sensitivity, positive predictive value)."""
    tp = float(np.sum((decision == 1) & (y == 1)))
    se = tp / max(float(np.sum(y == 1)), 1.0)
    ppv = tp / max(float(np.sum(decision == 1)), 1.0)
    return min(se, ppv)


def fold_config(cfg: dict, train: Path, test: Path, outcomes: Path, k: int, quick: bool) -> dict:
    """The healthnn config of one training (``k``: the split and training seed)."""
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
    c["baseline"] = {"models": []}  # the rounds ran without healthnn's [baseline] (issue 20)
    if quick:
        c["train"]["epochs"] = 2
    return c


def _with_measurements(ev: pd.DataFrame) -> set:
    """Stays with at least one time-series value (not a static line, not a -1 placeholder):
    the corrected set A has stays whose file holds the static lines only, which healthnn
    leaves out; they are left out of the folds here and counted."""
    static = {"RecordID", "Age", "Gender", "Height", "ICUType"}
    keep = ~ev["variable"].isin(static) & ev["value"].notna() & (ev["value"] != -1)
    return set(ev.loc[keep, "RecordID"])


def run(args) -> dict:
    from healthnn.config import load_config
    from healthnn.data.events import read_events
    from healthnn.pipeline import make_splits, new_task, read_training, run_split
    from healthnn.metrics import auroc, operating_point
    from sklearn.model_selection import StratifiedKFold

    data = Path(args.data)
    outcomes = pd.read_csv(data / "Outcomes-a.txt", dtype={"RecordID": str})
    started = time.perf_counter()
    # set A only (the folder may hold set B too): its archives, else the folder as it is
    parts = sorted(data.glob("set-a*.tar.xz")) or [data]
    ev = pd.concat([read_events(p, format="physionet2012")[0] for p in parts],
                   ignore_index=True)
    read_seconds = time.perf_counter() - started
    ev = ev[["stay", "time", "variable", "value"]].rename(columns={"stay": "RecordID"})
    with_file = outcomes[outcomes["RecordID"].isin(_with_measurements(ev))].reset_index(drop=True)
    if args.quick:  # a stratified sample of stays, for testing the script
        from sklearn.model_selection import train_test_split

        with_file, _ = train_test_split(with_file, train_size=args.quick_stays, random_state=0,
                                        stratify=with_file[TARGET])
        with_file = with_file.reset_index(drop=True)
    y = with_file[TARGET].to_numpy(dtype=int)
    saps = with_file["SAPS-I"].to_numpy(dtype=float)
    saps = np.where(saps < 0, np.nan, saps)
    cfgs = load_toml(CONFIGS / args.config)
    if "protocol" in cfgs:  # third round: cross-fitting, stacking, thresholds on inner OOF
        return run_crossfit(args, cfgs, ev, outcomes, with_file, y, saps, read_seconds)
    models = list(args.models)
    names = models + (["mlp + grud"] if {"mlp", "grud"} <= set(models) else []) + ["SAPS-I"]
    oof = {m: np.full(len(y), np.nan) for m in names}
    # decisions under each threshold rule (all chosen without the test fold): RULE, the
    # primary; "min_se_ppv" on the same validation stays (the earlier protocol), for comparison.
    # With --threshold-folds K, RULE's threshold is the one healthnn saved from out-of-fold
    # outputs ([eval] operating_point_folds = K) and "prevalence_val" is RULE on the validation
    # stays of the same model, for a like-for-like comparison.
    rules = [RULE, "min_se_ppv"] + (["prevalence_val"] if args.threshold_folds else [])
    if args.threshold_folds and "mlp + grud" in names:
        raise SystemExit("--threshold-folds compares thresholds of single models: give "
                         "--models mlp or --models grud")
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
                if args.threshold_folds:
                    cfg["eval"]["operating_point_folds"] = args.threshold_folds
                t0 = time.perf_counter()
                config = load_config(cfg)
                task = new_task(config)
                splits = make_splits(config, task, *read_training(config, task))
                run = run_split(config, task, splits, tmp / f"{m}{k}", log=quiet_log)
                bundle = run.bundle
                seconds[m] += time.perf_counter() - t0
                epochs[m].append(bundle.manifest["training"]["epochs_run"])
                pred = pd.read_csv(tmp / f"{m}{k}" / "predictions_test.csv",
                                   dtype={"RecordID": str}).set_index("RecordID")
                oof[m][ite] = pred.loc[ids_te, "prob_1"].to_numpy(dtype=float)
                out_val, y_val = run.scored.outputs["val"], run.splits["val"].y
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
                        thresholds[r][m] = operating_point(
                            yv, pv, r.removesuffix("_val"), prevalence=prev)["threshold"]
            med = np.nanmedian(saps[itr])
            s_tr, s_te = np.nan_to_num(saps[itr], nan=med), np.nan_to_num(saps[ite], nan=med)
            oof["SAPS-I"][ite] = s_te
            for r in rules:  # SAPS-I: chosen on the training part (no model is fitted)
                thresholds[r]["SAPS-I"] = operating_point(y[itr], s_tr,
                                                          r.removesuffix("_val"))["threshold"]
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
               "outcome_rows_without_measurements": int(
                   len(outcomes) - outcomes["RecordID"].isin(_with_measurements(ev)).sum()),
               "saps_missing": int(np.isnan(saps).sum()), "read_seconds": round(read_seconds, 1),
               "models": {}}
    for m in names:
        results["models"][m] = _model_results(y, oof[m], per_fold[m], decision, m, rules,
                                              thresholds=chosen[m])
        if m in seconds:
            results["models"][m].update(seconds=round(seconds[m], 1), epochs=epochs[m])
    return results


def _model_results(y, scores, fold, decision, m, rules, **extra) -> dict:
    """One model's row of results.json: per-fold and pooled AUROC and event-1 (bootstrap
    intervals over the pooled out-of-fold scores and decisions)."""
    from healthnn.metrics import auroc, bootstrap, operating_point

    pooled = bootstrap(lambda yy, pp: {"auroc": auroc(yy, pp)}, [y, scores],
                       n_resamples=1000, seed=0, strata=y)["auroc"]
    r_m = {"fold_auroc": fold["auroc"], "pooled_auroc": pooled, **extra,
           # not an estimate (chosen on the test folds): how far a threshold can go
           "best_possible_event1_on_test": operating_point(y, scores, "min_se_ppv")[
               "min_se_ppv"]}
    for r in rules:
        r_m[f"fold_event1_{r}"] = fold[f"event1_{r}"]
        r_m[f"pooled_event1_{r}"] = bootstrap(
            lambda yy, dd: {"event1": event1(yy, dd)}, [y, decision[r][m]],
            n_resamples=1000, seed=0, strata=y)["event1"]
    return r_m


STACK = "stack"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def run_crossfit(args, cfgs: dict, ev: pd.DataFrame, outcomes: pd.DataFrame,
                 with_file: pd.DataFrame, y: np.ndarray, saps: np.ndarray,
                 read_seconds: float) -> dict:
    """Third round (a config with ``[protocol]``): cross-fitting inside every outer fold.

    The outer training part is split into ``inner_folds`` stratified inner folds; every member
    is trained once per inner fold on the other inner folds (healthnn.train, its own 15%
    early-stopping split) and predicts the held-out inner fold and the outer test fold. Per
    member this gives out-of-fold (OOF) probabilities over the whole training part and a bag of
    ``inner_folds`` models whose mean scores the test fold. On the OOF predictions only: the
    stacker (logistic regression over the members' logits) is fitted, and every threshold is
    chosen (the stacker's own OOF scores for its threshold come from cross-fitting it too).
    """
    import shutil

    import healthnn
    from healthnn.metrics import auroc, operating_point
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    proto = cfgs["protocol"]
    members = list(proto["members"])
    n_inner = 2 if args.quick else int(proto["inner_folds"])
    c_stack = float(proto["stacker_C"])
    names = members + ["mean", STACK, "SAPS-I"]
    rules = [RULE, "min_se_ppv"]
    ids = with_file["RecordID"].to_numpy(dtype=object)
    oof = {m: np.full(len(y), np.nan) for m in names}
    decision = {r: {m: np.zeros(len(y), dtype=int) for m in names} for r in rules}
    per_fold = {m: {"auroc": [], **{f"event1_{r}": [] for r in rules}} for m in names}
    chosen = {m: [] for m in names}
    flagged = {m: [] for m in names}  # share of the test fold flagged (no labels needed)
    inner_auroc = {m: [] for m in names}  # AUROC of the OOF scores on the training part
    stacker_coef: list[dict] = []
    seconds = {m: 0.0 for m in members}
    epochs: dict[str, list[int]] = {m: [] for m in members}
    skf = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    with tempfile.TemporaryDirectory(prefix="bench-ehr-") as tmp:
        tmp = Path(tmp)
        out_csv = tmp / "outcomes.csv"
        outcomes.to_csv(out_csv, index=False)
        for k, (itr, ite) in enumerate(skf.split(with_file, y)):
            y_tr = y[itr]
            inner_p = {m: np.full(len(itr), np.nan) for m in members}
            test_p = {m: np.zeros((n_inner, len(ite))) for m in members}
            inner = StratifiedKFold(n_splits=n_inner, shuffle=True, random_state=1000 + k)
            for j, (a, b) in enumerate(inner.split(itr, y_tr)):
                tr, te = tmp / f"train{k}_{j}.parquet", tmp / f"test{k}_{j}.parquet"
                ev[ev["RecordID"].isin(set(ids[itr[a]]))].to_parquet(tr, index=False)
                ev[ev["RecordID"].isin(set(ids[itr[b]]) | set(ids[ite]))].to_parquet(
                    te, index=False)
                for m in members:
                    cfg = fold_config(cfgs[m], tr, te, out_csv, 100 * k + j, args.quick)
                    cfg["eval"] = {"bootstrap": 0}  # thresholds: chosen below, on the OOF
                    cfg["train"]["ensemble"] = 1  # the inner-fold models are the bag
                    t0 = time.perf_counter()
                    bundle = healthnn.train(cfg, tmp / f"{m}{k}_{j}", log=quiet_log)
                    seconds[m] += time.perf_counter() - t0
                    epochs[m].append(bundle.manifest["training"]["epochs_run"])
                    pred = pd.read_csv(tmp / f"{m}{k}_{j}" / "predictions_test.csv",
                                       dtype={"RecordID": str}).set_index("RecordID")
                    inner_p[m][b] = pred.loc[ids[itr[b]], "prob_1"].to_numpy(dtype=float)
                    test_p[m][j] = pred.loc[ids[ite], "prob_1"].to_numpy(dtype=float)
                    shutil.rmtree(tmp / f"{m}{k}_{j}")
                print(f"[ehr] fold {k} inner {j}: done", file=sys.stderr, flush=True)
            tr_score = {m: inner_p[m] for m in members}
            te_score = {m: test_p[m].mean(axis=0) for m in members}
            tr_score["mean"] = np.mean([inner_p[m] for m in members], axis=0)
            te_score["mean"] = np.mean([te_score[m] for m in members], axis=0)
            x_tr = np.column_stack([_logit(inner_p[m]) for m in members])
            stacker = LogisticRegression(C=c_stack, max_iter=1000).fit(x_tr, y_tr)
            stacker_coef.append({"intercept": float(stacker.intercept_[0]),
                                 **{m: float(w) for m, w in zip(members, stacker.coef_[0])}})
            tr_score[STACK] = cross_val_predict(  # the stacker's own OOF, for its threshold
                LogisticRegression(C=c_stack, max_iter=1000), x_tr, y_tr,
                cv=StratifiedKFold(n_splits=n_inner, shuffle=True, random_state=2000 + k),
                method="predict_proba")[:, 1]
            te_score[STACK] = np.mean([stacker.predict_proba(np.column_stack(
                [_logit(test_p[m][j]) for m in members]))[:, 1] for j in range(n_inner)], axis=0)
            med = np.nanmedian(saps[itr])
            tr_score["SAPS-I"] = np.nan_to_num(saps[itr], nan=med)
            te_score["SAPS-I"] = np.nan_to_num(saps[ite], nan=med)
            prev = float(y_tr.mean())
            for m in names:
                oof[m][ite] = te_score[m]
                per_fold[m]["auroc"].append(auroc(y[ite], te_score[m]))
                inner_auroc[m].append(auroc(y_tr, tr_score[m]))
                for r in rules:
                    thr = operating_point(y_tr, tr_score[m], r, prevalence=prev)["threshold"]
                    if r == RULE:
                        chosen[m].append(thr)
                        flagged[m].append(float(np.mean(te_score[m] >= thr)))
                    decision[r][m][ite] = (te_score[m] >= thr).astype(int)
                    per_fold[m][f"event1_{r}"].append(event1(y[ite], decision[r][m][ite]))
            print(f"[ehr] fold {k}: " + ", ".join(
                f"{m} AUROC {per_fold[m]['auroc'][-1]:.3f} E1 "
                f"{per_fold[m][f'event1_{RULE}'][-1]:.3f}" for m in names),
                file=sys.stderr, flush=True)
    results = {"protocol": {**proto, "inner_folds": n_inner},
               "stays": int(len(y)), "deaths": int(y.sum()),
               "outcome_rows_without_file": int(len(outcomes) - outcomes["RecordID"].isin(
                   set(ev["RecordID"])).sum()),
               "outcome_rows_without_measurements": int(
                   len(outcomes) - outcomes["RecordID"].isin(_with_measurements(ev)).sum()),
               "saps_missing": int(np.isnan(saps).sum()), "read_seconds": round(read_seconds, 1),
               "stacker_coefficients": stacker_coef, "models": {}}
    for m in names:
        results["models"][m] = _model_results(
            y, oof[m], per_fold[m], decision, m, rules, inner_oof_auroc=inner_auroc[m],
            thresholds=chosen[m], flagged_share_test=flagged[m])
        if m in seconds:
            results["models"][m].update(seconds=round(seconds[m], 1), epochs=epochs[m])
    return results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 400 stays, 2 folds, 2 epochs, no seed ensemble")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with set-a (tar.xz or files) and Outcomes-a.txt")
    p.add_argument("--models", nargs="+", default=["mlp", "grud"],
                   choices=["mlp", "grud", "event_transformer"],
                   help="models of a config without [protocol] (rounds 1-2, transformer)")
    p.add_argument("--threshold-folds", type=int, default=0,
                   help="configs without [protocol]: healthnn chooses the threshold on "
                   "out-of-fold outputs of this many extra models ([eval] "
                   "operating_point_folds); the validation-split threshold is shown beside it")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help="model settings in bench/configs (default: the third round's; "
                   "ehr_physionet2012.toml: the second round's, ehr_physionet2012_round1.toml: "
                   "the first round's models, for comparison on the same folds)")
    args = p.parse_args(argv)
    args.quick_stays = 400
    if args.quick:
        args.folds = 2
    set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    results = {"benchmark": "ehr_physionet2012", "command": command_line(), "quick": args.quick,
               "threshold_folds": args.threshold_folds,
               "threads": args.threads, "folds": args.folds, "published": PUBLISHED,
               "config_file": args.config, "config": load_toml(CONFIGS / args.config),
               "machine": machine(),
               "versions": versions("healthnn", "torch", "scikit-learn", "numpy")}
    results.update(run(args))
    stem = "ehr_physionet2012" + ("_round2" if args.config == "ehr_physionet2012.toml"
                                  else "_" + Path(args.config).stem.split("_")[-1])
    stem += f"_oof{args.threshold_folds}" if args.threshold_folds else ""
    path = write_json(stem + ("_quick" if args.quick else ""), results)
    print(report_crossfit(results) if "protocol" in results else report(results))
    print(f"\nresults: {path}")
    return results


def report(results: dict) -> str:
    k = results.get("threshold_folds", 0)
    where = f"OOF of {k} extra models" if k else "val"
    header = ["model", "AUROC pooled out-of-fold [95% CI]", "AUROC mean ± sd over folds",
              f"event-1 pooled [95% CI], threshold: {RULE} on {where}",
              "event-1 mean ± sd", "event-1 pooled, threshold: max min(Se, PPV) on val",
              "published"] + ([f"event-1 pooled, threshold: {RULE} on val (same model)",
                               "event-1 mean ± sd (on val)"] if k else [])
    pub = {"grud": f"GRU-D AUROC {PUBLISHED['grud_auroc']} (set A, Che et al. 2018)",
           "SAPS-I": f"event-1 {PUBLISHED['saps1_event1_setC']} (hidden set C)",
           "mlp + grud": f"winner event-1 {PUBLISHED['winner_event1_setC']} (hidden set C)"}
    ci = "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]"
    rows = []
    for m, r in results["models"].items():
        rows.append([m, ci.format(**r["pooled_auroc"]), fmt_mean_sd(r["fold_auroc"]),
                     ci.format(**r[f"pooled_event1_{RULE}"]),
                     fmt_mean_sd(r[f"fold_event1_{RULE}"]),
                     ci.format(**r["pooled_event1_min_se_ppv"]), pub.get(m, "")]
                    + ([ci.format(**r["pooled_event1_prevalence_val"]),
                        fmt_mean_sd(r["fold_event1_prevalence_val"])] if k else []))
    timing = "; ".join(f"{m} {r['seconds']:.0f} s, epochs {r['epochs']}"
                       for m, r in results["models"].items() if "seconds" in r)
    return (markdown_table(header, rows)
            + f"\n\n{results['stays']} stays, {results['deaths']} deaths, {results['folds']} "
            f"folds ({results.get('outcome_rows_without_measurements', 0)} outcome rows "
            f"without a file or any measurement left out); SAPS-I missing (-1) for "
            f"{results['saps_missing']} stays (training median)"
            f"; SAPS-I thresholds on the training part; training: {timing}; reading "
            f"{results['read_seconds']} s")



def report_crossfit(results: dict) -> str:
    """The third round's tables: test-fold metrics, then what the OOF predictions showed."""
    header = ["model", "AUROC pooled out-of-fold [95% CI]", "AUROC mean ± sd over folds",
              f"event-1 pooled [95% CI], threshold: {RULE} on inner OOF",
              "event-1 mean ± sd",
              "event-1 pooled, threshold: max min(Se, PPV) on inner OOF", "published"]
    pub = {"grud": f"GRU-D AUROC {PUBLISHED['grud_auroc']} (set A, Che et al. 2018)",
           "SAPS-I": f"event-1 {PUBLISHED['saps1_event1_setC']} (hidden set C)",
           STACK: f"winner event-1 {PUBLISHED['winner_event1_setC']} (hidden set C)"}
    ci = "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]"
    rows = []
    for m, r in results["models"].items():
        rows.append([m, ci.format(**r["pooled_auroc"]), fmt_mean_sd(r["fold_auroc"]),
                     ci.format(**r[f"pooled_event1_{RULE}"]),
                     fmt_mean_sd(r[f"fold_event1_{RULE}"]),
                     ci.format(**r["pooled_event1_min_se_ppv"]), pub.get(m, "")])
    inner = markdown_table(
        ["model", "AUROC of the inner OOF predictions (training parts), mean ± sd over folds",
         "test-fold share flagged (training death rate "
         f"{results['deaths'] / results['stays']:.3f})"],
        [[m, fmt_mean_sd(r["inner_oof_auroc"]), fmt_mean_sd(r["flagged_share_test"])]
         for m, r in results["models"].items()])
    members = [m for m in results["models"] if "seconds" in results["models"][m]]
    coef = "; ".join(
        f"fold {k}: " + ", ".join(f"{m} {c[m]:.2f}" for m in members)
        for k, c in enumerate(results["stacker_coefficients"]))
    timing = "; ".join(f"{m} {r['seconds']:.0f} s, epochs {r['epochs']}"
                       for m, r in results["models"].items() if "seconds" in r)
    return (markdown_table(header, rows) + "\n\n" + inner
            + f"\n\nstacker weights (logistic regression on the members' OOF logits): {coef}"
            + f"\n\n{results['stays']} stays, {results['deaths']} deaths, {results['folds']} "
            f"outer folds x {results['protocol']['inner_folds']} inner folds; SAPS-I missing "
            f"(-1) for {results['saps_missing']} stays (training median); training: {timing}; "
            f"reading {results['read_seconds']} s")


if __name__ == "__main__":
    main()
