"""Fuzz the REST API from its OpenAPI document (healthnn.serve._fuzz): no request may get a 5xx.

    python bench/serve_fuzz.py [--n 300] [--seed 0]

Serves three small bundles trained here (a table classifier on the bundled heart data, a CNN
on the bundled PneumoniaMNIST subset, a D-MPNN on the bundled ESOL molecules; few epochs) with
uvicorn on 127.0.0.1, and sends about N requests per operation: malformed and random JSON,
rows built from each model's input schema with random values, random uploads, random paths
and keys. Reports the status counts and every 5xx.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _common import ROOT, command_line, load_average, markdown_table, quiet_log, write_json  # noqa: E402

DATASETS = ROOT / "src" / "healthnn" / "datasets"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300, help="requests per operation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="30 requests per operation")
    args = p.parse_args(argv)
    if args.quick:
        args.n = 30
    import torch

    torch.set_num_threads(1)
    import healthnn
    from healthnn.config import load_config
    from healthnn.serve import build_app
    from healthnn.serve._fuzz import fuzz
    from healthnn.serve.app import Limits
    from healthnn.serve.keys import KeyStore
    from serve_fixtures import start_server

    with tempfile.TemporaryDirectory(prefix="healthnn-fuzz-") as tmp:
        tmp = Path(tmp)
        off = ["eval.bootstrap=20", "report.enabled=false"]
        for name, toml, extra in [("heart", "heart.toml", ["train.epochs=10"]),
                                  ("xray", "pneumonia.toml", ["train.epochs=1"]),
                                  ("esol", "esol.toml", ["train.epochs=2"])]:
            healthnn.train(load_config(DATASETS / toml, overrides=off + extra), tmp / name,
                           log=quiet_log)
        key = KeyStore(tmp / "keys.json").add("fuzz", ["predict", "explain", "deid"])
        app = build_app([tmp / "heart", tmp / "xray", tmp / "esol"], keys_path=tmp / "keys.json",
                        audit_db=tmp / "audit.sqlite",
                        limits=Limits(rate_per_minute=0, timeout_s=120))
        running = start_server(app)
        t0 = time.perf_counter()
        try:
            result = fuzz(running.url, key, n=args.n, seed=args.seed)
        finally:
            running.stop()
        seconds = time.perf_counter() - t0
    rows = [[k, v] for k, v in sorted(result.by_status.items())]
    table = markdown_table(["HTTP status", "requests"], rows)
    print(table)
    print(f"\n{result.requests} requests in {seconds:.0f} s; 5xx: {len(result.server_errors)}; "
          f"non-JSON answers: {len(result.not_json)}")
    for e in result.server_errors[:20]:
        print("  5xx:", e)
    write_json("serve_fuzz", {"command": command_line(), "requests": result.requests,
                              "by_status": result.by_status,
                              "server_errors": result.server_errors,
                              "not_json": result.not_json, "seconds": seconds,
                              "load_average": load_average(), "table": table})


if __name__ == "__main__":
    main()
