"""Scarce labels on PneumoniaMNIST: trained from scratch vs SimCLR-pretrained on the unlabelled
training images, with 1%, 10% and 100% of the training labels.

1. ``healthnn.pretrain`` (SimCLR, NT-Xent) trains ``simple_cnn`` on all 4708 training images of
   the official split, without their labels.
2. For each label fraction (a stratified subsample of the training images, seeded), the same
   network is trained twice with the same settings: from scratch, and starting from the
   pretrained encoder (``[model] init``; every layer fine-tuned, the output layer fresh).
   Model selection (best epoch by validation AUROC) uses the official validation split (524
   images) in every setting; the official test split (624 images) is only scored.

Test AUROC and accuracy (0.5 threshold) with 95% stratified bootstrap intervals (healthnn
metrics, 1000 resamples). Published (MedMNIST v2, Yang et al. 2023, 100% labels, 28x28):
ResNet-18 AUROC 0.944 / ACC 0.854.

    python bench/transfer_pneumoniamnist.py --quick   # 4 pretraining epochs, few fine-tuning epochs
    python bench/transfer_pneumoniamnist.py           # 30 pretraining epochs, 3 label seeds
    (data: --data PATH or $HEALTHNN_PNEUMONIAMNIST; default bench/data/pneumoniamnist/)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DATA, OUT, command_line, machine, markdown_table, quiet_log, set_threads, versions, write_json,
)

DEFAULT = DATA / "pneumoniamnist" / "pneumoniamnist.npz"
PUBLISHED = "MedMNIST v2 ResNet-18 (28), 100% labels: AUROC 0.944, ACC 0.854"


def subsample(src: Path, dst: Path, fraction: float, seed: int) -> int:
    """A copy of the .npz whose training part is a stratified ``fraction`` of the original."""
    z = np.load(src)
    y = z["train_labels"].reshape(-1)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(2, int(round(len(idx) * fraction)))
        keep.append(rng.choice(idx, size=k, replace=False))
    keep = np.sort(np.concatenate(keep))
    arrays = {k: z[k] for k in z.files}
    arrays["train_images"], arrays["train_labels"] = z["train_images"][keep], z["train_labels"][keep]
    np.savez_compressed(dst, **arrays)
    return len(keep)


def config(data: Path, epochs: int, batch: int, seed: int, init: Path | None) -> dict:
    model = {"name": "simple_cnn"}
    if init is not None:
        model["init"] = str(init)
    return {
        "task": "image_classification",
        "data": {"train": str(data), "image_size": 28, "positive": "1"},
        "model": model,
        "train": {"epochs": epochs, "batch_size": batch, "lr": 2e-3, "scheduler": "cosine",
                  "monitor": "auroc", "patience": epochs, "progress": False, "device": "cpu",
                  "seed": seed},
        "eval": {"bootstrap": 1000},
        "report": {"enabled": False},
    }


def fmt(m: dict) -> str:
    return f"{m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("HEALTHNN_PNEUMONIAMNIST", DEFAULT)))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pretrain-epochs", type=int, default=None, help="override the mode's")
    ap.add_argument("--fractions", type=float, nargs="+", default=None,
                    help="only these label fractions (of 0.01 0.1 1)")
    ap.add_argument("--seeds", type=int, default=None, help="label subsamples per fraction")
    ap.add_argument("--name", default="transfer_pneumoniamnist", help="bench/out/NAME.json")
    ap.add_argument("--encoder", type=Path, default=None,
                    help="reuse this 'healthnn pretrain' output instead of pretraining again")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    import healthnn
    from healthnn.pretraining import pretrain

    if not args.data.is_file():
        sys.exit(f"PneumoniaMNIST not found at {args.data} (use --data or $HEALTHNN_PNEUMONIAMNIST)")
    if args.quick:
        pre_epochs, seeds = 4, [0]
        plan = {0.01: (40, 16), 0.10: (15, 64), 1.0: (3, 128)}   # fraction: (epochs, batch)
    else:
        pre_epochs, seeds = 30, [0, 1, 2]
        plan = {0.01: (100, 16), 0.10: (40, 64), 1.0: (15, 128)}
    pre_epochs = args.pretrain_epochs or pre_epochs
    seeds = list(range(args.seeds)) if args.seeds else seeds
    if args.fractions:
        plan = {f: plan[f] for f in plan if any(abs(f - g) < 1e-9 for g in args.fractions)}
    work = OUT / args.name
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    t0 = time.time()
    encoder = work / "encoder"
    if args.encoder is not None:
        import json

        encoder = args.encoder
        info = json.loads((encoder / "pretrain.json").read_text())
        pre_epochs = info["settings"]["epochs"]
        pre_s = info["seconds"]
    else:
        pre_cfg = config(args.data, 1, 256, 42, None)
        info = pretrain(pre_cfg, encoder, epochs=pre_epochs, batch_size=256, log=quiet_log)
        pre_s = time.time() - t0
    print(f"pretrained on {info['data']['images']} unlabelled images, {pre_epochs} epochs, "
          f"{pre_s:.0f} s; NT-Xent {info['history'][0]['loss']:.3f} -> "
          f"{info['history'][-1]['loss']:.3f}", flush=True)
    runs = []
    for frac, (epochs, batch) in plan.items():
        for seed in seeds:
            data = work / f"labels_{frac:g}_seed{seed}.npz"
            n = subsample(args.data, data, frac, seed)
            for start in ("scratch", "pretrained"):
                t = time.time()
                init = encoder if start == "pretrained" else None
                b = healthnn.train(config(data, epochs, batch, 42 + seed, init),
                                   work / f"{start}_{frac:g}_{seed}", log=quiet_log)
                runs.append({"fraction": frac, "seed": seed, "train_images": n, "start": start,
                             "epochs": epochs, "batch_size": batch,
                             "best_epoch": b.manifest["training"]["best_epoch"],
                             "seconds": round(time.time() - t, 1),
                             "test_auroc": b.metrics["test"]["auroc"],
                             "test_accuracy": b.metrics["test"]["accuracy"]})
                print(f"{frac:.0%} labels ({n} images), seed {seed}, {start}: test AUROC "
                      f"{fmt(b.metrics['test']['auroc'])}, {runs[-1]['seconds']} s", flush=True)
    rows = []
    for frac in plan:
        for seed in seeds:
            r = {x["start"]: x for x in runs if x["fraction"] == frac and x["seed"] == seed}
            rows.append([f"{frac:.0%}", r["scratch"]["train_images"], seed,
                         fmt(r["scratch"]["test_auroc"]), fmt(r["pretrained"]["test_auroc"]),
                         fmt(r["scratch"]["test_accuracy"]), fmt(r["pretrained"]["test_accuracy"])])
    table = markdown_table(["labels", "train images", "seed", "AUROC scratch", "AUROC pretrained",
                            "ACC scratch", "ACC pretrained"], rows)
    print()
    print(table)
    print(f"\nPublished: {PUBLISHED}. Test split: official (624 images); intervals: 95% "
          f"bootstrap. Pretraining: SimCLR, {pre_epochs} epochs on the 4708 training images "
          f"without labels.")
    write_json(args.name, {
        "command": command_line(), "quick": args.quick, "encoder": str(encoder), "pretrain": {
            "epochs": pre_epochs, "seconds": round(pre_s, 1), "history": info["history"],
            "images": info["data"]["images"]},
        "plan": {str(k): {"epochs": e, "batch_size": b} for k, (e, b) in plan.items()},
        "runs": runs, "table": table, "published": PUBLISHED, "machine": machine(),
        "versions": versions("torch", "numpy"), "seconds": round(time.time() - started, 1)})


if __name__ == "__main__":
    main()
