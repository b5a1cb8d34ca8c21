"""Medical Abstracts (5 classes): stratified 5-fold CV, healthnn text model vs TF-IDF baseline.

Data: the corpus's official test split (2888 abstracts; the train split is not shipped), from
``--data`` or $HEALTHNN_MEDICAL_ABSTRACTS (default /work/shared/data/text/medical_abstracts).
No supervised number is published for this split, so the comparison is the TF-IDF (word 1-2
grams) + logistic regression baseline that ``healthnn.train`` fits in the same run on the same
training rows and scores on the same test fold (``test_baseline_tfidf``).

For each fold healthnn trains through ``healthnn.train(config, out)`` on the fold's training
part (``[data] train``; it carves its early-stopping rows out of it, 15%) and predicts the fold's
test part (``[data] test``), with bench/configs/text_medical_abstracts.toml (a tokenizer trained
on the fold's training texts; nothing pretrained). Reported: macro-F1 and accuracy as mean ± sd
over folds, and on the pooled out-of-fold predictions with 95% stratified bootstrap intervals
(1000 resamples); throughput in documents per second for training (documents x epochs run /
training seconds) and inference (``Bundle.predict`` on the test fold, tokenisation included).

    python bench/text_medical_abstracts.py [--quick] [--folds 5] [--model bigru_attention]
"""

from __future__ import annotations

import argparse
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

DEFAULT = Path(os.environ.get("HEALTHNN_MEDICAL_ABSTRACTS",
                              "/work/shared/data/text/medical_abstracts"))


def load(folder: Path) -> pd.DataFrame:
    names = pd.read_csv(folder / "medical_tc_labels.csv")
    names = dict(zip(names["condition_label"], names["condition_name"], strict=True))
    df = pd.read_csv(folder / "medical_tc_test.csv")
    return pd.DataFrame({"text": df["medical_abstract"],
                         "label": df["condition_label"].map(names)})


def pooled(codes: np.ndarray, probs: np.ndarray, seed: int = 0) -> dict:
    from healthnn.metrics import bootstrap, multiclass_metrics

    def fn(y, p):
        m = multiclass_metrics(y, p)
        return {"f1_macro": m["f1_macro"], "accuracy": m["accuracy"]}

    return bootstrap(fn, [codes, probs], n_resamples=1000, seed=seed, strata=codes)


def main(argv=None) -> dict:

    import healthnn

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 folds, 2 epochs, max_length 96")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default=None, help="bigru_attention (config) or text_transformer")
    p.add_argument("--data", type=Path, default=DEFAULT)
    p.add_argument("--tokenizer", choices=["wordpiece", "bpe", "wordlevel"], default=None,
                   help="override the config's [data] tokenizer (wordpiece)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    from sklearn.model_selection import StratifiedKFold

    df = load(args.data)
    cfg = load_toml(CONFIGS / "text_medical_abstracts.toml")
    if args.model and args.model != cfg["model"]["name"]:
        cfg["model"] = {"name": args.model}
        if args.model == "text_transformer":
            cfg["model"].update(dim=128, heads=4, layers=2, ff=256, dropout=0.1)
    folds = 2 if args.quick else args.folds
    if args.quick:
        cfg["train"]["epochs"] = 2
        cfg["data"]["max_length"] = 96
    if args.epochs:
        cfg["train"]["epochs"] = args.epochs
    if args.tokenizer:
        cfg["data"]["tokenizer"] = args.tokenizer
    classes = sorted(df["label"].unique())
    oof = np.zeros((len(df), len(classes)))
    oof_base = np.zeros_like(oof)
    folds_out = []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
    with tempfile.TemporaryDirectory(prefix="bench-text-") as tmp:
        tmp = Path(tmp)
        for k, (tr, te) in enumerate(skf.split(df, df["label"])):
            df.iloc[tr].to_csv(tmp / "train.csv", index=False)
            df.iloc[te].to_csv(tmp / "test.csv", index=False)
            c = {**cfg, "data": {**cfg["data"], "train": str(tmp / "train.csv"),
                                 "test": str(tmp / "test.csv")}}
            started = time.perf_counter()
            bundle = healthnn.train(c, tmp / f"fold{k}", log=quiet_log)
            train_s = time.perf_counter() - started
            fit_s = bundle.manifest["training"]["seconds"]
            epochs = bundle.manifest["training"]["epochs_run"]
            n_fit = bundle.manifest["splits"]["train"]["rows"]
            test = df.iloc[te].reset_index(drop=True)
            t0 = time.perf_counter()
            pred = bundle.predict(test[["text"]])
            infer_s = time.perf_counter() - t0
            cols = [f"prob_{c}" for c in bundle.task.classes_]
            order = [bundle.task.classes_.index(c) for c in classes]
            oof[te] = pred[cols].to_numpy()[:, order]
            oof_base[te] = bundle.task.baseline_probabilities(test)[:, order]
            m, b = bundle.metrics["test"], bundle.metrics["test_baseline_tfidf"]
            folds_out.append({
                "fold": k, "test_rows": len(te), "epochs_run": epochs,
                "best_epoch": bundle.manifest["training"]["best_epoch"],
                "f1_macro": m["f1_macro"], "accuracy": m["accuracy"],
                "baseline_f1_macro": b["f1_macro"], "baseline_accuracy": b["accuracy"],
                "train_call_seconds": train_s, "pipeline_seconds": fit_s,
                "train_docs_per_s": n_fit * epochs / fit_s,
                "inference_docs_per_s": len(te) / infer_s,
            })
            write_json("text_medical_abstracts_partial", {"command": command_line(),
                                                          "per_fold": folds_out})
            print(f"fold {k + 1}/{folds}: macro-F1 {m['f1_macro']['value']:.3f} "
                  f"(baseline {b['f1_macro']['value']:.3f}), {epochs} epochs, "
                  f"{train_s:.0f} s", flush=True)
    codes = df["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    results = {
        "benchmark": "text_medical_abstracts", "command": command_line(), "quick": args.quick,
        "threads": args.threads, "config": cfg, "rows": len(df), "folds": folds,
        "machine": machine(), "versions": versions("healthnn", "torch", "tokenizers",
                                                    "scikit-learn"),
        "per_fold": folds_out,
        "pooled": {"healthnn": pooled(codes, oof), "tfidf_logreg": pooled(codes, oof_base)},
    }
    path = write_json("text_medical_abstracts" + ("_quick" if args.quick else "")
                      + (f"_{args.tokenizer}" if args.tokenizer else ""), results)
    print(report(results))
    print(f"\nresults: {path}")
    return results


def _ci(m: dict) -> str:
    return "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]".format(**m)


def report(r: dict) -> str:
    f = r["per_fold"]
    model = r["config"]["model"]["name"]
    rows = []
    for name, key, pooled_key in ((f"healthnn {model}", "", "healthnn"),
                                  ("TF-IDF + logistic regression (same run)", "baseline_",
                                   "tfidf_logreg")):
        rows.append([name,
                     fmt_mean_sd([x[f"{key}f1_macro"]["value"] for x in f]),
                     _ci(r["pooled"][pooled_key]["f1_macro"]),
                     fmt_mean_sd([x[f"{key}accuracy"]["value"] for x in f]),
                     _ci(r["pooled"][pooled_key]["accuracy"])])
    rows.append(["published (supervised, this split)", "none", "", "", ""])
    table = markdown_table(["model", "macro-F1 mean ± sd over folds",
                            "macro-F1 pooled out-of-fold [95% CI]", "accuracy mean ± sd",
                            "accuracy pooled [95% CI]"], rows)
    speed = markdown_table(
        ["throughput (docs/s)", "mean over folds"],
        [["training (documents x epochs / training seconds)",
          fmt_mean_sd([x["train_docs_per_s"] for x in f], 0)],
         ["inference (Bundle.predict, tokenisation included)",
          fmt_mean_sd([x["inference_docs_per_s"] for x in f], 0)]])
    return f"{r['rows']} abstracts, {r['folds']} folds\n\n{table}\n\n{speed}"


if __name__ == "__main__":
    main()
