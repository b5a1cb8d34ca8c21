"""Screening throughput of ``healthnn predict`` on a SMILES library (issue 4), molecules/second.

Measured in one run on the same molecules (default: MoleculeNet HIV, 41,127 SMILES), each as
wall-clock molecules per second and molecules per CPU second (parent + worker processes):

- ``rdkit parse`` - ``Chem.MolFromSmiles`` alone: the floor any RDKit-based tool pays;
- ``reference featuriser`` - the first, per-atom Python implementation (tests/chem_reference.py):
  standardisation + graph features, as ``healthnn predict`` did before this benchmark existed;
- ``healthnn featurise, N workers`` - :func:`healthnn.data.molecules.featurize_smiles`
  (standardise + graph features, vectorised, chunked, N processes);
- ``chemprop featuriser`` - ``Chem.MolFromSmiles`` + chemprop 2.3.1's
  ``SimpleMoleculeMolGraphFeaturizer`` (only if chemprop is installed; no standardisation);
- ``healthnn predict, N workers`` - the whole command: read the CSV, standardise, featurise,
  the bundle's model (default bundle: D-MPNN, hidden 300, depth 3), rank, write the CSV.
- ``--baseline SRC`` also times ``predict_file`` of another checkout's ``src`` folder (e.g. the
  main branch before this benchmark: ``--baseline ../main/src``) on the same bundle and library,
  in a subprocess (its CPU time is counted the same way).

The bundle is a D-MPNN of the default size trained for 2 epochs on ESOL (its weights do not
change the speed), unless ``--bundle`` names one. One torch thread.

    python bench/molecules_throughput.py --out bench/out/molecules_throughput
    python bench/molecules_throughput.py --limit 5000          # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "molecules" / "moleculenet"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - t0, _cpu() - c0


def _quick_bundle(data: Path, out: Path) -> Path:
    from healthnn.pipeline import train

    cfg = {"task": "molecule_property",
           "data": {"train": str(data / "ESOL_delaney-processed.csv"),
                    "target": "measured log solubility in mols per litre", "smiles": "smiles"},
           "model": {"name": "dmpnn", "hidden": 300, "depth": 3, "ffn_hidden": [300]},
           "train": {"epochs": 2, "batch_size": 50, "progress": False, "seed": 0},
           "eval": {"bootstrap": 0}}
    train(cfg, out, log=lambda m: None)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("HEALTHNN_MOLECULENET", str(DEFAULT_DATA)))
    p.add_argument("--library", default="HIV.csv", help="CSV in --data with a 'smiles' column")
    p.add_argument("--limit", type=int, default=0, help="use the first N molecules (0 = all)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--bundle", type=Path, help="a trained molecule bundle (default: train one)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--baseline", type=Path,
                   help="src folder of another healthnn checkout whose predict is timed too")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "molecules_throughput"))
    args = p.parse_args(argv)

    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT / "tests"))
    from chem_reference import reference_mol_graphs, reference_standardize
    from rdkit import Chem, RDLogger

    from healthnn.data.molecules import featurize_smiles
    from healthnn.pipeline import predict_file

    RDLogger.DisableLog("rdApp.*")
    data = Path(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(data / args.library)
    if args.limit:
        df = df.head(args.limit)
    library = out / "library.csv"
    df[["smiles"]].to_csv(library, index=False)
    smiles = df["smiles"].tolist()
    n = len(smiles)
    bundle = args.bundle or _quick_bundle(data, out / "bundle")
    from healthnn.bundle import load_bundle

    model_name = load_bundle(bundle).config.model.name  # named in the rows below
    rows = []

    def add(what: str, wall: float, cpu: float) -> None:
        rows.append({"what": what, "molecules": n, "wall_s": round(wall, 2),
                     "cpu_s": round(cpu, 2), "mol_per_s": round(n / wall),
                     "mol_per_cpu_s": round(n / cpu)})
        print(json.dumps(rows[-1]), flush=True)

    add("rdkit parse (MolFromSmiles only)", *_timed(lambda: [Chem.MolFromSmiles(s) for s in smiles]))

    def reference() -> None:
        std = reference_standardize(smiles)
        methane = Chem.MolFromSmiles("C")
        reference_mol_graphs([methane if m is None else m for m in std.mols])

    add("reference featuriser (first version, 1 process)", *_timed(reference))
    for w in args.workers:
        add(f"healthnn featurise, {w} worker(s)",
            *_timed(lambda w=w: featurize_smiles(smiles, workers=w)))
    try:
        from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer
    except ImportError:
        print("chemprop not installed: its featuriser is not measured", file=sys.stderr)
    else:
        feat = SimpleMoleculeMolGraphFeaturizer()

        def chemprop_featurise() -> None:
            for s in smiles:
                m = Chem.MolFromSmiles(s)
                if m is not None:
                    feat(m)

        add("chemprop 2.3.1 featuriser (parse + SimpleMoleculeMolGraphFeaturizer)",
            *_timed(chemprop_featurise))
    for w in args.workers:
        add(f"healthnn predict (read, featurise, {model_name}, write), {w} worker(s)",
            *_timed(lambda w=w: predict_file(bundle, library, out / f"ranked_{w}.csv", workers=w)))

    if args.baseline:
        code = ("import sys, torch; torch.set_num_threads(%d); "
                "from healthnn.pipeline import predict_file; "
                "predict_file(sys.argv[1], sys.argv[2], sys.argv[3])" % args.threads)
        env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}

        def baseline() -> None:
            subprocess.run([sys.executable, "-c", code, str(bundle), str(library),
                            str(out / "ranked_baseline.csv")], env=env, check=True)

        add(f"healthnn predict of {args.baseline} (before; new process incl. imports)",
            *_timed(baseline))
    load = os.getloadavg()[0]
    cpus = os.cpu_count()
    result = {"library": args.library, "molecules": n, "rows": rows, "load_average": load,
              "cpus": cpus, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "rdkit": Chem.rdBase.rdkitVersion, "threads": args.threads,
              "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip()}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "molecules_throughput.json").write_text(json.dumps(result, indent=1))
    print(f"\n{n} molecules from {args.library}; {cpus} CPUs, load average {load:.1f} "
          f"(1 min) at the end; {result['date']}\n")
    print("| step | wall s | CPU s | molecules / s (wall) | molecules / CPU s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['wall_s']} | {r['cpu_s']} | {r['mol_per_s']} | "
              f"{r['mol_per_cpu_s']} |")


if __name__ == "__main__":
    main()
