"""MoleculeNet benchmarks for ``task = "molecule_property"`` (issue 4) beside chemprop's numbers.

ESOL and Lipophilicity: RMSE, random 80/10/10. BBBP: ROC-AUC, scaffold split (balanced, as
chemprop's ``scaffold_balanced``). Tox21: mean ROC-AUC over 12 assays with missing labels,
random split. Each is trained with seeds 0..n-1 (split and initialisation) and reported as
mean ± sd, with training wall time and prediction throughput (molecules/second for
``healthnn predict`` on the whole file, featurisation included).

The data are read from ``--data`` (or ``$HEALTHNN_MOLECULENET``; default
``../shared/data/molecules/moleculenet`` beside the repository); they are not copied here.

    python bench/molecules_moleculenet.py --datasets esol bbbp --seeds 3 --out bench/out/molecules
    python bench/molecules_moleculenet.py --report bench/out/molecules   # table from results
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOX21 = ["NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD",
         "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53"]
# name: file, target(s), split, metric, chemprop's published value (Yang et al. 2019 / docs)
DATASETS = {
    "esol": ("ESOL_delaney-processed.csv", "measured log solubility in mols per litre",
             "random", "rmse", 0.555),
    "lipo": ("Lipophilicity.csv", "exp", "random", "rmse", 0.555),
    "bbbp": ("BBBP.csv", "p_np", "scaffold", "auroc", 0.737),
    "tox21": ("tox21.csv", TOX21, "random", "auroc", 0.851),
}


def config(name: str, data: Path, seed: int, epochs: int, hidden: int) -> dict:
    file, target, split, metric, _ = DATASETS[name]
    return {
        "task": "molecule_property",
        "data": {"train": str(data / file), "target": target, "smiles": "smiles"},
        # 80/10/10: test 0.1, validation 0.1 of all = 1/9 of the remaining rows
        "split": {"method": split, "test_size": 0.1, "val_size": 1 / 9, "seed": seed},
        "model": {"name": "dmpnn", "hidden": hidden, "depth": 3, "ffn_hidden": [hidden],
                  "dropout": 0.0},
        "train": {"epochs": epochs, "batch_size": 50, "lr": 1e-3, "patience": 10,
                  "scheduler": "plateau", "seed": seed, "progress": False,
                  "monitor": "val_loss"},
        "eval": {"bootstrap": 20},
    }


def run(args) -> None:
    import torch

    from healthnn.pipeline import predict_file, train

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        metric = DATASETS[name][3]
        for seed in range(args.seeds):
            t0 = time.time()
            bundle = train(config(name, Path(args.data), seed, args.epochs, args.hidden),
                           out / f"{name}_seed{seed}", log=lambda m: None)
            wall = time.time() - t0
            t1, c1 = time.time(), time.process_time()
            n, errors = predict_file(bundle, Path(args.data) / DATASETS[name][0],
                                     out / f"{name}_seed{seed}_predictions.csv")
            pred_s, pred_cpu = time.time() - t1, time.process_time() - c1
            row = {"dataset": name, "seed": seed, "metric": metric,
                   "value": bundle.metrics["test"][metric]["value"],
                   "train_seconds": round(wall, 1),
                   "epochs_run": bundle.manifest["training"]["epochs_run"],
                   "best_epoch": bundle.manifest["training"]["best_epoch"],
                   "rows": n, "rows_with_errors": errors,
                   "predict_molecules_per_second": round(n / pred_s, 1),
                   "predict_molecules_per_cpu_second": round(n / pred_cpu, 1),
                   "hidden": args.hidden, "max_epochs": args.epochs}
            print(json.dumps(row), flush=True)
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")


def report(folder: Path) -> str:
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    lines = ["| data set | split | metric | healthnn D-MPNN (mean ± sd) | seeds | chemprop "
             "published | epochs (max) | train s / seed | predict mol/s (wall; per CPU-s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, (_, _, split, metric, published) in DATASETS.items():
        rs = [r for r in rows if r["dataset"] == name]
        if not rs:
            continue
        v = [r["value"] for r in rs]
        sd = statistics.stdev(v) if len(v) > 1 else float("nan")
        lines.append(
            f"| {name} | {split} | {metric} | {statistics.mean(v):.3f} ± {sd:.3f} | {len(v)} | "
            f"{published} | {rs[0]['max_epochs']} | "
            f"{statistics.mean(r['train_seconds'] for r in rs):.0f} | "
            f"{statistics.mean(r['predict_molecules_per_second'] for r in rs):.0f}; "
            f"{statistics.mean(r['predict_molecules_per_cpu_second'] for r in rs):.0f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("HEALTHNN_MOLECULENET",
                             str(ROOT.parent / "shared" / "data" / "molecules" / "moleculenet"))
    p.add_argument("--data", default=default, help="folder with the MoleculeNet CSV files")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "molecules"))
    p.add_argument("--report", type=Path, help="print the Markdown table of a results folder")
    args = p.parse_args()
    if args.report:
        print(report(args.report))
        return
    if not Path(args.data).is_dir():
        sys.exit(f"MoleculeNet folder not found: {args.data} (use --data or "
                 "$HEALTHNN_MOLECULENET)")
    run(args)


if __name__ == "__main__":
    main()
