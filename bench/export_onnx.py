"""ONNX export: PyTorch against ONNX Runtime (fp32 and dynamic int8) on the demo models.

    python bench/export_onnx.py [--threads 1] [--quick] [--out DIR]

For each model (heart-disease MLP, PneumoniaMNIST CNN, ESOL D-MPNN; the demo configs, trained
here), on the bundle's own test rows: the largest output difference from PyTorch, the task's
test metrics under each runtime, and the network's forward throughput (rows/s, best of 5
interleaved timings, the same encoded batches for every runtime; preprocessing is shared by all
runtimes and not timed). Ratios are ONNX / PyTorch measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
DATASETS = BENCH.parent / "src" / "healthnn" / "datasets"
MODELS = {"heart (mlp)": "heart.toml", "pneumonia (simple_cnn)": "pneumonia.toml",
          "esol (dmpnn)": "esol.toml"}


def _rate(fn, n: int) -> float:
    best = min(_timed(fn) for _ in range(5))
    return n / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(threads: int, quick: bool, workdir: Path) -> list[dict]:
    from healthnn import load_config, train
    from healthnn.export import _OrtModel, _sample, export_onnx, onnx_predictor

    torch.set_num_threads(threads)
    rows = []
    for name, cfg_file in MODELS.items():
        cfg = load_config(DATASETS / cfg_file)
        cfg.train.progress = False
        if quick:
            cfg.train.epochs = 2
        out = workdir / cfg_file.removesuffix(".toml")
        bundle = train(cfg, out, log=lambda m: None)
        result = export_onnx(out, quantize=True)
        inputs, _, _, _ = _sample(bundle, None, 10**9, None)
        n = len(inputs)
        onnx_model = onnx_predictor(out, threads=threads).model
        int8_model = _OrtModel.from_bytes(result.int8_path.read_bytes(), threads)
        rates = {}
        for label, model in (("torch", bundle.model), ("onnx", onnx_model), ("int8", int8_model)):
            bundle.outputs(inputs, model=model)  # warm-up
            rates[label] = _rate(lambda m=model: bundle.outputs(inputs, model=m), n)
        first = next(iter(result.metrics["torch"]))
        rows.append({"model": name, "test_rows": n, "max_abs_diff": result.max_abs_diff,
                     "int8_max_abs_diff": result.int8_max_abs_diff, "metric": first,
                     "metrics": {k: v[first] for k, v in result.metrics.items()},
                     "rows_per_s": rates,
                     "size_mb": {"onnx": result.path.stat().st_size / 1e6,
                                 "int8": result.int8_path.stat().st_size / 1e6}})
        print(f"  {name}: done", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads")
    ap.add_argument("--quick", action="store_true", help="2 epochs per model (smoke run)")
    ap.add_argument("--out", type=Path, default=None, help="keep the bundles here")
    args = ap.parse_args(argv)
    workdir = args.out or Path(tempfile.mkdtemp(prefix="healthnn-export-"))
    started = time.time()
    rows = run(args.threads, args.quick, workdir)
    print(f"\nONNX export, {args.threads} thread(s), bundle test rows "
          f"({time.time() - started:.0f} s)\n")
    print("| model | test rows | max abs diff fp32 / int8 | test metric torch / onnx / int8 "
          "| rows/s torch | onnx (ratio) | int8 (ratio) | MB fp32 / int8 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m, s = r["metrics"], r["rows_per_s"]
        print(f"| {r['model']} | {r['test_rows']} | {r['max_abs_diff']:.1e} / "
              f"{r['int8_max_abs_diff']:.1e} | {r['metric']} {m['torch']:.3f} / {m['onnx']:.3f} / "
              f"{m['int8']:.3f} | {s['torch']:.0f} | {s['onnx']:.0f} ({s['onnx'] / s['torch']:.2f}x) "
              f"| {s['int8']:.0f} ({s['int8'] / s['torch']:.2f}x) | {r['size_mb']['onnx']:.2f} / "
              f"{r['size_mb']['int8']:.2f} |")
    (BENCH / "out").mkdir(exist_ok=True)
    (BENCH / "out" / "export_onnx.json").write_text(json.dumps(rows, indent=2))
    if args.out is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
