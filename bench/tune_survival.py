"""Choose healthnn's survival hyperparameters per data set on TRAIN only; write bench/configs/.

For each DeepSurv data set, 20% of the TRAIN rows (stratified by event, seed 2024) are held out
as a tuning set; the test split is never read. Each candidate below is trained through
``healthnn.train`` on the other 80% (healthnn carves its own early-stopping rows out of them)
with two seeds, scored by Harrell's C on the tuning rows, and the candidate with the best mean
is written to ``bench/configs/<set>_<model>.toml`` with the scores of all candidates in its
header. The benchmark (survival_deepsurv.py) then trains on the full TRAIN split.

    python bench/tune_survival.py [--sets support whas gbsg] [--models deepsurv logistic_hazard]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CONFIGS, command_line, set_threads, write_json  # noqa: E402
from survival_deepsurv import MODELS, SETS, load_h5, to_csv  # noqa: E402

# A small, fixed grid (2 cores, 10 minutes per data set): width/depth, dropout, lr, batch size,
# weight decay, and early stopping on validation loss or validation C-index.
CANDIDATES = [
    {"model": {"hidden": [64, 64], "dropout": 0.1},
     "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 64, "monitor": "val_loss"}},
    {"model": {"hidden": [64, 64], "dropout": 0.3},
     "train": {"lr": 1e-3, "weight_decay": 1e-3, "batch_size": 128, "monitor": "c_index"}},
    {"model": {"hidden": [32], "dropout": 0.2},
     "train": {"lr": 5e-3, "weight_decay": 1e-4, "batch_size": 256, "monitor": "c_index"}},
    {"model": {"hidden": [128, 128], "dropout": 0.5},
     "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 128, "monitor": "c_index"}},
    {"model": {"hidden": [64, 64], "dropout": 0.1, "batch_norm": False, "activation": "selu"},
     "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 256, "monitor": "val_loss"}},
    {"model": {"hidden": [32, 32], "dropout": 0.3},
     "train": {"lr": 1e-3, "weight_decay": 1e-2, "batch_size": 64, "monitor": "val_loss"}},
]
COMMON_TRAIN = {"epochs": 100, "patience": 15}
TUNE_SEEDS = [100, 101]


def carve(data, seed: int = 2024, frac: float = 0.2):
    from sklearn.model_selection import train_test_split

    x, t, e = data["train"]
    itr, itu = train_test_split(np.arange(len(t)), test_size=frac, random_state=seed, stratify=e)
    return (x[itr], t[itr], e[itr]), (x[itu], t[itu], e[itu])


def score(model: str, cand: dict, tr_csv: Path, tu_csv: Path, out: Path, seed: int) -> float:
    import healthnn

    cfg = {"task": "survival",
           "data": {"train": str(tr_csv), "test": str(tu_csv), "time": "time", "event": "event"},
           "split": {"seed": seed},
           "model": {"name": model, **cand["model"]},
           "train": {**COMMON_TRAIN, **cand["train"], "seed": seed, "progress": False,
                     "device": "cpu"},
           "eval": {"bootstrap": 1}}  # intervals are not needed to choose
    b = healthnn.train(cfg, out, log=lambda m: None)
    return float(b.metrics["test"]["c_index"]["value"])


def toml_lines(model: str, cand: dict) -> list[str]:
    from healthnn.config import to_toml

    return to_toml({"model": {"name": model, **cand["model"]},
                    "train": {**COMMON_TRAIN, **cand["train"]}}).strip().splitlines()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    set_threads(args.threads)
    log = {}
    for name in args.sets:
        data = load_h5(SETS[name])
        tr, tu = carve(data)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            to_csv(tr, tmp / "tr.csv")
            to_csv(tu, tmp / "tu.csv")
            for model in args.models:
                rows = []
                for i, cand in enumerate(CANDIDATES):
                    started = time.perf_counter()
                    cs = [score(model, cand, tmp / "tr.csv", tmp / "tu.csv", tmp / f"{model}{i}{s}", s)
                          for s in TUNE_SEEDS]
                    rows.append((float(np.mean(cs)), i, cs))
                    print(f"[{name} {model}] candidate {i}: tuning C {np.mean(cs):.4f} {cs} "
                          f"({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
                best = max(rows)[1]
                log[f"{name}_{model}"] = {"scores": rows, "chosen": best}
                header = [
                    f"# healthnn {model} on {name}: chosen by bench/tune_survival.py",
                    f"# ({command_line()}) on a 20% tuning split carved out of TRAIN (stratified",
                    "# by event, seed 2024; the test split is never read), mean Harrell C over",
                    f"# seeds {TUNE_SEEDS}. Candidates (index: tuning C):",
                    *[f"#   {i}: {m:.4f}  {json.dumps(CANDIDATES[i])}" for m, i, _ in sorted(rows, reverse=True)],
                    f"# chosen: candidate {best}. [data], seeds and device are set by",
                    "# bench/survival_deepsurv.py.",
                ]
                (CONFIGS / f"{name}_{model}.toml").write_text(
                    "\n".join(header + toml_lines(model, CANDIDATES[best])) + "\n")
    write_json("tune_survival_" + "_".join(args.sets + args.models), log)


if __name__ == "__main__":
    main()
