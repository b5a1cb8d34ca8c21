"""Throughput of the de-identification file runner, one note at a time against chunks of notes.

``healthnn deid`` hands each chunk of rows to ``Deidentifier.find_many``, which runs an NER
model (``--ner``) on the whole chunk at once. This benchmark runs the same runner on the same
notes with ``chunk_rows = 1`` (one note at a time, as before) and the default 500, alternating,
and checks that both write identical files.

    python bench/deid_batch_speed.py --ner bench/out/ner_physionet_5fold/fold_0 [--repeat 2]

Notes: the PhysioNet deid gold notes (GPL: read from ``--data`` / $HEALTHNN_DEID_GOLD, written
as a CSV to a temporary folder, never into the project). Without ``--ner``: rules only. Prints
notes per second; nothing of the notes.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    import pandas as pd
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from deid_physionet import load

    from healthnn.privacy import deidentify_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "HEALTHNN_DEID_GOLD", Path(__file__).resolve().parents[2] / "shared/data/text/physionet_deid_gold")))
    ap.add_argument("--ner", type=Path, default=None, help="a task = 'ner' bundle (else rules only)")
    ap.add_argument("--chunks", type=int, nargs="+", default=[1, 500])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    notes, _ = load(args.data)
    with tempfile.TemporaryDirectory(prefix="healthnn-deid-speed-") as tmp:
        src = Path(tmp) / "notes.csv"
        pd.DataFrame({"text": list(notes.values())}).to_csv(src, index=False)
        n = len(notes)
        rates: dict[int, list[float]] = {c: [] for c in args.chunks}
        for _ in range(args.repeat):
            for c in args.chunks:
                t0 = time.perf_counter()
                deidentify_file(src, Path(tmp) / f"out_{c}.csv", ner=args.ner, workers=1,
                                chunk_rows=c, progress=False)
                rates[c].append(n / (time.perf_counter() - t0))
        same = all(filecmp.cmp(Path(tmp) / f"out_{args.chunks[0]}.csv", Path(tmp) / f"out_{c}.csv",
                               shallow=False) for c in args.chunks)
    engine = f"rules ∪ NER ({args.ner})" if args.ner else "rules alone"
    print(f"{engine}, {n} notes, one process, one thread; load average {os.getloadavg()[0]:.1f}\n")
    print("| chunk_rows | notes/s (each repeat) |\n|---|---|")
    for c, r in rates.items():
        print(f"| {c} | {', '.join(f'{x:.1f}' for x in r)} |")
    print(f"\noutputs identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
