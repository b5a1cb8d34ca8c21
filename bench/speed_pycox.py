"""Speed and memory: healthnn training DeepSurv on SUPPORT vs pycox training the same network.

Both sides train the same MLP (14 -> 64 -> 64 -> 1, BatchNorm, ReLU, dropout 0.1, no output
bias) with AdamW (lr 1e-3, weight decay 1e-4), batch size 64, for a fixed number of epochs with
no early stopping (healthnn: patience = epochs; pycox: EarlyStopping(patience = epochs), which
like healthnn keeps the best weights), each computing the validation loss every epoch on 15%
of the training rows (stratified by event; healthnn's own carve, scikit-learn's for pycox). healthnn runs with ``scheduler = "none"`` and ``grad_clip = 0`` so that
both do the same work (a second healthnn row uses its defaults: plateau schedule, clipping at 5).

Each side runs in its own fresh subprocess (``--worker``) and reports:

* ``fit_s``: wall time of the training loop (healthnn's ``Trainer.fit``, pycox's ``model.fit``);
* ``total_s``: wall time of the whole call: healthnn's ``healthnn.train`` (read CSV, preprocess,
  train, evaluate, write the bundle; ``[eval] bootstrap = 1`` so the 1000-resample intervals
  are not counted) against pycox's read CSV, standardise, fit, predict test;
* ``fit_cpu_s`` / ``total_cpu_s``: the same intervals in process CPU time (user + system,
  ``resource.getrusage``), which a busy shared machine disturbs far less than wall time;
* ``peak_rss_mb``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the process (includes
  ``import torch``), and ``rss_before_mb`` just before the call.

Imports (torch, pycox, healthnn and its metrics, and torch._dynamo, which the first optimiser
imports) happen before the timers on both sides. The ratio healthnn / pycox is printed for each; < 1 means healthnn is faster or leaner.

    python bench/speed_pycox.py [--epochs 30] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, markdown_table, versions, write_json  # noqa: E402

HIDDEN = [64, 64]
DROPOUT = 0.1
LR = 1e-3
WD = 1e-4
BATCH = 64
VAL = 0.15


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _warm_up_torch() -> None:
    """Import what the first optimiser pulls in (torch._dynamo, ~2 s) before any timer starts."""
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def worker_healthnn(train_csv: str, test_csv: str, epochs: int, defaults: bool) -> dict:
    import torch

    import healthnn
    import healthnn.metrics  # noqa: F401  (imports outside the timers, as for pycox)
    from healthnn.pipeline import train as _train  # noqa: F401
    from healthnn.training import trainer as trainer_mod

    _warm_up_torch()

    fit_time = {}
    original = trainer_mod.Trainer.fit

    def timed_fit(self, *a, **k):
        started, cpu = time.perf_counter(), _cpu_s()
        try:
            return original(self, *a, **k)
        finally:
            fit_time["s"] = time.perf_counter() - started
            fit_time["cpu"] = _cpu_s() - cpu

    trainer_mod.Trainer.fit = timed_fit
    train = {"epochs": epochs, "patience": epochs, "batch_size": BATCH, "lr": LR,
             "weight_decay": WD, "seed": 0, "progress": False, "device": "cpu"}
    if not defaults:
        train.update(scheduler="none", grad_clip=0.0)
    cfg = {"task": "survival",
           "data": {"train": train_csv, "test": test_csv, "time": "time", "event": "event"},
           "split": {"val_size": VAL, "seed": 0},
           "model": {"name": "deepsurv", "hidden": HIDDEN, "dropout": DROPOUT,
                     "batch_norm": True, "activation": "relu"},
           "train": train, "eval": {"bootstrap": 1}}
    rss_before = _current_rss_mb()
    out = tempfile.mkdtemp(prefix="speed-healthnn-")
    started, cpu = time.perf_counter(), _cpu_s()
    bundle = healthnn.train(cfg, out, log=lambda m: None)
    total, total_cpu = time.perf_counter() - started, _cpu_s() - cpu
    return {"fit_s": fit_time["s"], "total_s": total, "fit_cpu_s": fit_time["cpu"],
            "total_cpu_s": total_cpu, "rss_before_mb": rss_before,
            "peak_rss_mb": _rss_mb(), "test_c_index": bundle.metrics["test"]["c_index"]["value"],
            "torch_threads": torch.get_num_threads()}


def worker_pycox(train_csv: str, test_csv: str, epochs: int) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    import torchtuples as tt
    from pycox.models import CoxPH
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from healthnn.metrics import harrell_c

    _warm_up_torch()
    rss_before = _current_rss_mb()
    started, cpu = time.perf_counter(), _cpu_s()
    df, dt = pd.read_csv(train_csv), pd.read_csv(test_csv)
    cols = [c for c in df.columns if c not in ("time", "event")]
    x = df[cols].to_numpy(np.float32)
    t, e = df["time"].to_numpy(np.float32), df["event"].to_numpy(np.float32)
    itr, iva = train_test_split(np.arange(len(df)), test_size=VAL, random_state=0, stratify=e)
    sc = StandardScaler().fit(x[itr])
    xtr, xva = sc.transform(x[itr]).astype(np.float32), sc.transform(x[iva]).astype(np.float32)
    xte = sc.transform(dt[cols].to_numpy(np.float32)).astype(np.float32)
    torch.manual_seed(0)
    net = tt.practical.MLPVanilla(len(cols), HIDDEN, 1, True, DROPOUT, output_bias=False)
    model = CoxPH(net, tt.optim.AdamW(lr=LR, decoupled_weight_decay=WD))
    fit_started, fit_cpu = time.perf_counter(), _cpu_s()
    model.fit(xtr, (t[itr], e[itr]), batch_size=BATCH, epochs=epochs, verbose=False,
              callbacks=[tt.callbacks.EarlyStopping(patience=epochs)],
              val_data=(xva, (t[iva], e[iva])))
    fit, fit_cpu = time.perf_counter() - fit_started, _cpu_s() - fit_cpu
    risk = model.predict(xte).reshape(-1)
    total, total_cpu = time.perf_counter() - started, _cpu_s() - cpu
    c = harrell_c(dt["time"].to_numpy(float), dt["event"].to_numpy(bool), risk.astype(float))
    return {"fit_s": fit, "total_s": total, "fit_cpu_s": fit_cpu, "total_cpu_s": total_cpu,
            "rss_before_mb": rss_before, "peak_rss_mb": _rss_mb(),
            "test_c_index": c, "torch_threads": torch.get_num_threads()}


def run_worker(kind: str, train_csv: Path, test_csv: Path, epochs: int, threads: int) -> dict:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", kind, "--train", str(train_csv),
           "--test", str(test_csv), "--epochs", str(epochs)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - started
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--threads", type=int, default=1,
                   help="OMP/MKL threads of each worker (0 = torch's default)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 epochs")
    p.add_argument("--worker", choices=["healthnn", "healthnn-defaults", "pycox"],
                   help=argparse.SUPPRESS)
    p.add_argument("--train", help=argparse.SUPPRESS)
    p.add_argument("--test", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        if args.worker == "pycox":
            res = worker_pycox(args.train, args.test, args.epochs)
        else:
            res = worker_healthnn(args.train, args.test, args.epochs,
                                  defaults=args.worker == "healthnn-defaults")
        print(json.dumps(res))
        return res

    from survival_deepsurv import SETS, load_h5, to_csv

    epochs = 2 if args.quick else args.epochs
    data = load_h5(SETS["support"])
    results = {"benchmark": "speed_pycox", "command": command_line(), "epochs": epochs,
               "threads": args.threads, "machine": machine(),
               "versions": versions("healthnn", "torch", "pycox", "torchtuples"),
               "network": {"hidden": HIDDEN, "dropout": DROPOUT, "batch_norm": True,
                           "lr": LR, "weight_decay": WD, "batch_size": BATCH},
               "runs": {}}
    with tempfile.TemporaryDirectory(prefix="speed-") as tmp:
        tmp = Path(tmp)
        to_csv(data["train"], tmp / "train.csv")
        to_csv(data["test"], tmp / "test.csv")
        for kind in ("pycox", "healthnn", "healthnn-defaults"):
            res = run_worker(kind, tmp / "train.csv", tmp / "test.csv", epochs, args.threads)
            results["runs"][kind] = res
            print(f"{kind}: fit {res['fit_s']:.1f}s (CPU {res['fit_cpu_s']:.1f}s), total "
                  f"{res['total_s']:.1f}s (CPU {res['total_cpu_s']:.1f}s), "
                  f"peak RSS {res['peak_rss_mb']:.0f} MB, test C {res['test_c_index']:.4f}",
                  file=sys.stderr, flush=True)
    py = results["runs"]["pycox"]
    for kind in ("healthnn", "healthnn-defaults"):
        h = results["runs"][kind]
        results[f"ratio_{kind}"] = {k: h[k] / py[k] for k in ("fit_s", "total_s", "fit_cpu_s", "total_cpu_s", "peak_rss_mb")}
    path = write_json("speed_pycox" + ("_quick" if args.quick else ""), results)
    print(report(results))
    print(f"\nresults: {path}")
    return results


def report(results: dict) -> str:
    py = results["runs"]["pycox"]
    rows = []
    for kind, label in (("pycox", "pycox CoxPH"),
                        ("healthnn", "healthnn deepsurv (same work)"),
                        ("healthnn-defaults", "healthnn deepsurv (defaults: plateau, clip 5)")):
        r = results["runs"][kind]
        ratio = "1" if kind == "pycox" else (
            f"{r['fit_s'] / py['fit_s']:.2f} / {r['fit_cpu_s'] / py['fit_cpu_s']:.2f} / "
            f"{r['total_s'] / py['total_s']:.2f} / {r['peak_rss_mb'] / py['peak_rss_mb']:.2f}")
        rows.append([label, f"{r['fit_s']:.1f}", f"{r['fit_cpu_s']:.1f}", f"{r['total_s']:.1f}",
                     f"{r['peak_rss_mb']:.0f}", f"{r['rss_before_mb']:.0f}",
                     f"{r['test_c_index']:.4f}", ratio])
    header = [f"SUPPORT, {results['epochs']} epochs, {results['threads'] or 'default'} thread(s)",
              "training loop wall (s)", "training loop CPU (s)", "whole call wall (s)",
              "peak RSS (MB)", "RSS before (MB)", "test C",
              "healthnn / pycox: loop wall / loop CPU / call wall / peak RSS"]
    return markdown_table(header, rows)


if __name__ == "__main__":
    main()
