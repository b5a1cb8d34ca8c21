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

With ``--chemprop`` chemprop 2.3.1 (``pip install -c requirements/constraints.txt torch==2.13.0
-e ".[chem,bench-chem]"``; never a runtime dependency of healthnn) is trained in the same run on
the SAME split: healthnn computes the train/validation/test row indices once, trains on them
(``healthnn.pipeline.run_at(config, rows, indices, out)``) and hands chemprop the same rows and a splits file
(``chemprop train --splits-file``). Both get the same maximum number of epochs (``--epochs``,
chemprop's default 50), keep their own schedule and best-validation checkpoint (healthnn:
plateau schedule and early stopping with patience 10; chemprop: its Noam schedule), run with one
thread, and are scored by the same metric code on the same test rows. Wall and CPU time of the
whole call (featurisation, training, test prediction; healthnn also writes its report) are
recorded for each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
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


def split_rows(cfg: dict):
    """The usable rows of the data set (as healthnn's pipeline keeps them) and the
    train/val/test positions that ``[split]`` gives; both systems train on exactly these."""
    from healthnn.config import load_config
    from healthnn.pipeline import make_splits, training_rows

    config = load_config(cfg)
    task, data = training_rows(config)
    idx = make_splits(config, task, data).idx
    return data.df.reset_index(drop=True), idx


def _score(kind: str, targets: list[str], Y, P) -> float:
    from healthnn.tasks.molecule import _multi_metrics

    return _multi_metrics(kind, targets, per_target=False)(Y, P)[
        "auroc" if kind == "binary" else "rmse"]


def run_chemprop(name: str, df, idx: dict, seed: int, epochs: int, folder: Path) -> dict:
    """Train chemprop 2.3.1 (its CLI, defaults otherwise) on the given rows and split."""

    exe = shutil.which("chemprop") or str(Path(sys.executable).with_name("chemprop"))
    if not Path(exe).exists():
        raise SystemExit("chemprop is not installed: pip install -c requirements/constraints.txt "
                         "torch==2.13.0 -e '.[chem,bench-chem]'")
    _, target, _, metric, _ = DATASETS[name]
    targets = [target] if isinstance(target, str) else list(target)
    kind = "binary" if metric == "auroc" else "regression"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.csv"
    df[["smiles", *targets]].to_csv(data, index=False)
    (folder / "splits.json").write_text(json.dumps(
        [{k: [int(i) for i in idx[k]] for k in ("train", "val", "test")}]))
    out = folder / "chemprop"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [exe, "train", "--data-path", str(data), "--splits-file", str(folder / "splits.json"),
           "--smiles-columns", "smiles", "--target-columns", *targets,
           "--task-type", "classification" if kind == "binary" else "regression",
           "--epochs", str(epochs), "--output-dir", str(out), "--num-workers", "0",
           "--accelerator", "cpu", "--devices", "1", "--pytorch-seed", str(seed),
           "--data-seed", str(seed)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (folder / "chemprop.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise SystemExit(f"chemprop failed (exit {proc.returncode}); see {folder / 'chemprop.log'}")
    preds = sorted(out.rglob("test_predictions.csv"))
    if not preds:
        raise SystemExit(f"chemprop wrote no test_predictions.csv under {out}")
    p = __import__("pandas").read_csv(preds[0])
    test = df.iloc[idx["test"]]
    if p["smiles"].tolist() != test["smiles"].tolist():
        raise SystemExit("chemprop's test rows differ from the split given to it")
    Y = test[targets].apply(__import__("pandas").to_numeric, errors="coerce").to_numpy(float)
    value = _score(kind, targets, Y, p[targets].to_numpy(float))
    return {"value": value, "train_seconds": round(wall, 1),
            "cpu_seconds": round((after.ru_utime + after.ru_stime)
                                 - (before.ru_utime + before.ru_stime), 1)}


def run(args) -> None:
    import torch

    from healthnn.config import load_config
    from healthnn.pipeline import predict_file, run_at, training_rows

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        metric = DATASETS[name][3]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            cfg = config(name, Path(args.data), seed, args.epochs, args.hidden)
            df, idx = split_rows(cfg)
            t0, c0 = time.time(), time.process_time()
            conf = load_config(cfg)
            bundle = run_at(conf, training_rows(conf)[1], idx, out / f"{name}_seed{seed}").bundle
            wall, cpu = time.time() - t0, time.process_time() - c0
            row = {"dataset": name, "seed": seed, "metric": metric,
                   "value": bundle.metrics["test"][metric]["value"],
                   "train_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                   "epochs_run": bundle.manifest["training"]["epochs_run"],
                   "best_epoch": bundle.manifest["training"]["best_epoch"],
                   "rows": len(df), "split_rows": {k: len(v) for k, v in idx.items()},
                   "hidden": args.hidden, "max_epochs": args.epochs,
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "load_average": round(os.getloadavg()[0], 1)}
            if args.predict:
                t1, c1 = time.time(), time.process_time()
                n, errors = predict_file(bundle, Path(args.data) / DATASETS[name][0],
                                         out / f"{name}_seed{seed}_predictions.csv")
                pred_s, pred_cpu = time.time() - t1, time.process_time() - c1
                row.update(predict_molecules_per_second=round(n / pred_s, 1),
                           predict_molecules_per_cpu_second=round(n / pred_cpu, 1),
                           rows_with_errors=errors)
            if args.chemprop:
                row["chemprop"] = run_chemprop(name, df, idx, seed, args.epochs,
                                               out / f"{name}_seed{seed}_chemprop")
            print(json.dumps(row), flush=True)
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")


def report(folder: Path) -> str:
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    lines = ["| data set | split | metric | seeds | healthnn D-MPNN (mean ± sd) | chemprop 2.3.1 "
             "same run, same split (mean ± sd) | chemprop published | max epochs | healthnn "
             "train s / seed | chemprop train s / seed | time ratio healthnn / chemprop |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    per_seed = []
    for name, (_, _, split, metric, published) in DATASETS.items():
        rs = [r for r in rows if r["dataset"] == name]
        if not rs:
            continue
        cp = [r["chemprop"] for r in rs if "chemprop" in r]
        h_t = statistics.mean(r["train_seconds"] for r in rs)
        c_t = statistics.mean(c["train_seconds"] for c in cp) if cp else None
        lines.append(
            f"| {name} | {split} | {metric} | {len(rs)} | {_ms([r['value'] for r in rs])} | "
            f"{_ms([c['value'] for c in cp]) if cp else 'not run'} | {published} | "
            f"{rs[0]['max_epochs']} | {h_t:.0f} | {'-' if c_t is None else f'{c_t:.0f}'} | "
            f"{'-' if c_t is None else f'{h_t / c_t:.2f}'} |")
        for r in rs:
            c = r.get("chemprop")
            c_val = "-" if c is None else f"{c['value']:.3f}"
            c_time = "-" if c is None else f"{c['train_seconds']:.0f} ({c['cpu_seconds']} CPU)"
            per_seed.append(
                f"| {name} | {r['seed']} | {r['value']:.3f} | {c_val} | "
                f"{r.get('best_epoch', '-')} / {r.get('epochs_run', '-')} | "
                f"{r['train_seconds']:.0f} ({r.get('cpu_seconds', '-')} CPU) | {c_time} | "
                f"{r.get('date', '-')} | {r.get('load_average', '-')} |")
    lines += ["", "| data set | seed | healthnn | chemprop | healthnn best epoch / run | "
              "healthnn s (CPU s) | chemprop s (CPU s) | date | load avg (1 min) |",
              "|---|---|---|---|---|---|---|---|---|", *per_seed]
    return "\n".join(lines)


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("HEALTHNN_MOLECULENET",
                             str(ROOT.parent / "shared" / "data" / "molecules" / "moleculenet"))
    p.add_argument("--data", default=default, help="folder with the MoleculeNet CSV files")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first-seed .. first-seed + seeds - 1 (to add seeds to a results folder)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "molecules"))
    p.add_argument("--chemprop", action=argparse.BooleanOptionalAction, default=None,
                   help="also train chemprop 2.3.1 on the same split (pip install "
                   "'.[bench-chem]'); default: when it is installed")
    p.add_argument("--predict", action="store_true",
                   help="also time 'healthnn predict' on the whole file (see molecules_throughput.py)")
    p.add_argument("--report", type=Path, help="print the Markdown table of a results folder")
    args = p.parse_args(argv)
    if args.report:
        print(report(args.report))
        return
    if not Path(args.data).is_dir():
        sys.exit(f"MoleculeNet folder not found: {args.data} (use --data or "
                 "$HEALTHNN_MOLECULENET)")
    if args.chemprop is None:
        import importlib.util

        args.chemprop = importlib.util.find_spec("chemprop") is not None
    run(args)


if __name__ == "__main__":
    main()
