"""Benchmark task 'ner' on MEDDOCAN (Spanish clinical cases, IberLEF 2019): train on the
training set, report strict span F1 on the development set.

    python bench/ner_meddocan.py [--data DIR] [--epochs 15] [--quick]

``--data`` defaults to $HEALTHNN_MEDDOCAN, then ../shared/data/text/meddocan (the folder with
meddocan_train_brat.tar.gz and meddocan_dev_brat.tar.gz, CC BY 4.0; read from the archives).
The published number beside ours is the best shared-task system's strict span micro F1 on the
*test* set (0.9696, Lange et al. 2019); the test set is not in the shared folder, so ours is on
the dev set: comparable in kind, not the same documents. Writes bench/out/ner_meddocan.json and
the bundle to bench/out/ner_meddocan/. Prints no document text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import healthnn  # noqa: E402

PUBLISHED = {"best MEDDOCAN system (Lange et al. 2019), test set": 0.9696}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("HEALTHNN_MEDDOCAN") or str(ROOT.parent / "shared/data/text/meddocan")
    ap.add_argument("--data", type=Path, default=Path(default))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="3 epochs (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    train, dev = a.data / "meddocan_train_brat.tar.gz", a.data / "meddocan_dev_brat.tar.gz"
    if not train.is_file() or not dev.is_file():
        print(f"MEDDOCAN archives not found in {a.data} (set --data or HEALTHNN_MEDDOCAN)",
              file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(a.threads)
    epochs = 3 if a.quick else a.epochs
    config = {
        "task": "ner",
        "data": {"train": str(train), "test": str(dev), "max_length": 128, "overlap": 32},
        "model": {"name": "bilstm_charcnn", "hidden": a.hidden},
        "train": {"epochs": epochs, "batch_size": 32, "lr": 0.002, "patience": 4,
                  "monitor": "token_f1", "seed": 42, "progress": False},
        "eval": {"bootstrap": 200},
        "split": {"val_size": 0.1, "seed": 42},
    }
    out = ROOT / "bench" / "out"
    started = time.perf_counter()
    bundle = healthnn.train(config, out / "ner_meddocan", log=lambda m: print(m, flush=True))
    secs = time.perf_counter() - started
    m = bundle.metrics["test"]
    counts = bundle.task.label_counts_
    frequent = [lab for lab, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= 50]
    result = {
        "train_documents": bundle.manifest["splits"]["train"]["rows"],
        "val_documents": bundle.manifest["splits"]["val"]["rows"],
        "dev_documents": bundle.manifest["splits"]["test"]["rows"],
        "epochs_run": bundle.manifest["training"]["epochs_run"],
        "best_epoch": bundle.manifest["training"]["best_epoch"],
        "seconds": round(secs, 1), "threads": a.threads,
        "model": config["model"],
        "span_f1": m["span_f1"], "span_precision": m["span_precision"],
        "span_recall": m["span_recall"], "token_f1": m["token_f1"],
        "per_label": {lab: {k: m[f"span_{k}_{lab}"]["value"] for k in ("precision", "recall", "f1")}
                      | {"train_spans": counts[lab]} for lab in frequent},
        "published": PUBLISHED,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "ner_meddocan.json").write_text(json.dumps(result, indent=2))

    def ci(d):
        return f"{d['value']:.4f} ({d['ci_low']:.3f}-{d['ci_high']:.3f})"

    print(f"\nMEDDOCAN: trained on {result['train_documents']} documents (+{result['val_documents']}"
          f" for early stopping), evaluated on the {result['dev_documents']} dev documents; "
          f"{result['epochs_run']} epochs, {secs:.0f} s on {a.threads} threads\n")
    print("| system | split | span precision | span recall | span F1 (strict, micro) |")
    print("|---|---|---|---|---|")
    print(f"| healthnn bilstm_charcnn | dev | {ci(m['span_precision'])} | {ci(m['span_recall'])} "
          f"| {ci(m['span_f1'])} |")
    for name, f1 in PUBLISHED.items():
        print(f"| {name} | test | | | {f1:.4f} (published) |")
    print("\n| label (≥ 50 training spans) | train spans | precision | recall | F1 |")
    print("|---|---|---|---|---|")
    for lab, v in result["per_label"].items():
        print(f"| {lab} | {v['train_spans']} | {v['precision']:.3f} | {v['recall']:.3f} | "
              f"{v['f1']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
