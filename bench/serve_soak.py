"""Issue 23 measurements of `healthnn serve` (each server in its own process, 127.0.0.1 only):

1. fuzz: the extended fuzzer (healthnn.serve._fuzz) for --fuzz-requests requests against
   three small bundles; 5xx answers, dropped connections, and the server's resident memory
   (the server process and its work processes) after a warm-up and at the end;
2. soak: --clients clients for --seconds seconds against `--workers 2`, one worker killed
   (SIGKILL) half way; requests answered, failed (5xx or no answer), audit rows written,
   worker restarts, and `healthnn audit verify` of the chain afterwards.

    python bench/serve_soak.py [--fuzz-requests 10000] [--clients 32] [--seconds 60]
    python bench/serve_soak.py --quick      # 700 fuzz requests, 8 clients for 10 s
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _common import ROOT, command_line, load_average, write_json  # noqa: E402

DATASETS = ROOT / "src" / "healthnn" / "datasets"
ROW = {"age": 54, "sex": "M", "bmi": 27.5, "smoker": "former"}


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (MB)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Server:
    def __init__(self, args: list[str], log: Path) -> None:
        from serve_fixtures import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "healthnn", "serve", *args, "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")})

    def wait(self, startups: int = 1, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count("Application startup complete") < startups:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + self.text())
            time.sleep(0.3)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=120)
        self._log.close()


def _train(tmp: Path) -> None:
    import healthnn
    from healthnn.config import load_config

    def quiet(_msg: str) -> None:
        pass

    off = ["eval.bootstrap=20", "report.enabled=false"]
    for name, toml, extra in [("heart", "heart.toml", ["train.epochs=10"]),
                              ("xray", "pneumonia.toml", ["train.epochs=1"]),
                              ("esol", "esol.toml", ["train.epochs=2"])]:
        healthnn.train(load_config(DATASETS / toml, overrides=off + extra), tmp / name,
                       log=quiet)


def run_fuzz(tmp: Path, key: str, total: int, max_unpacked_mb: float) -> dict:
    from healthnn.serve._fuzz import fuzz

    srv = Server([str(tmp / "heart"), str(tmp / "xray"), str(tmp / "esol"), "--keys",
                  str(tmp / "keys.json"), "--audit-db", str(tmp / "fuzz.sqlite"),
                  "--rate-limit", "0", "--work-processes", "1", "--max-unpacked-mb",
                  str(max_unpacked_mb)], tmp / "fuzz.log")
    try:
        srv.wait()
        fuzz(srv.url, key, n=40, seed=99)  # warm-up: every path once at least
        rss0 = _tree_rss_mb(srv.proc.pid)
        ops = 7
        t0 = time.perf_counter()
        result = fuzz(srv.url, key, n=math.ceil(total / ops), seed=0)
        seconds = time.perf_counter() - t0
        rss1 = _tree_rss_mb(srv.proc.pid)
        alive = srv.proc.poll() is None
    finally:
        srv.stop()
    log = srv.text()
    return {"requests": result.requests, "by_status": result.by_status,
            "server_errors": result.server_errors[:20], "n_5xx": len(result.server_errors),
            "resets": len(result.resets), "not_json": len(result.not_json),
            "rss_after_warmup_mb": round(rss0, 1), "rss_end_mb": round(rss1, 1),
            "rss_growth_mb": round(rss1 - rss0, 1), "server_alive": alive,
            "tracebacks_in_log": log.count("Traceback"), "seconds": round(seconds, 1)}


def run_soak(tmp: Path, key: str, clients: int, seconds: float) -> dict:
    import httpx

    audit = tmp / "soak.sqlite"
    srv = Server([str(tmp / "heart"), "--keys", str(tmp / "keys.json"), "--audit-db",
                  str(audit), "--rate-limit", "0", "--workers", "2", "--work-processes", "1"],
                 tmp / "soak.log")
    counts = {"answered": 0, "failed_5xx": 0, "failed_no_answer": 0}
    lock = threading.Lock()
    stop_at = 0.0

    def client(i: int) -> None:
        h = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=srv.url, timeout=30, headers=h) as c:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                try:
                    if n % 10 == 0:
                        r = c.post("/deid", json={"text": f"Seen by Dr. Jones on 0{n % 9 + 1}"
                                                  "/02/2020, MRN 1234567."})
                    else:
                        r = c.post("/models/heart/predict",
                                   json={"rows": [{**ROW, "age": 20 + (i + n) % 60}]})
                    key_ = "answered" if r.status_code < 500 else "failed_5xx"
                except httpx.TransportError:
                    key_ = "failed_no_answer"
                with lock:
                    counts[key_] += 1

    try:
        srv.wait(startups=2)
        time.sleep(5)  # the work processes load the bundle
        pids = [int(p) for p in re.findall(r"Started server process \[(\d+)\]", srv.text())]
        stop_at = time.monotonic() + seconds
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        time.sleep(seconds / 2)
        os.kill(pids[0], signal.SIGKILL)
        for t in threads:
            t.join()
        log = srv.text()
        back = log.count("Application startup complete") >= 3
    finally:
        srv.stop()
    import sqlite3

    with sqlite3.connect(audit) as conn:
        rows = conn.execute("SELECT count(*) FROM audit_log WHERE endpoint LIKE 'POST%'"
                            ).fetchone()[0]
    verify = subprocess.run([sys.executable, "-m", "healthnn", "audit", "verify", str(audit),
                             "--keys", str(tmp / "keys.json")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return {**counts, "requests": sum(counts.values()),
            "audit_rows_post": rows, "worker_restarts": log.count("restarting it"),
            "worker_back": back, "killed_after_s": round(seconds / 2, 1),
            "audit_verify": (verify.stdout + verify.stderr).strip(),
            "audit_verify_rc": verify.returncode, "clients": clients, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fuzz-requests", type=int, default=10_000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--max-unpacked-mb", type=float, default=32.0,
                   help="the fuzzed server's limit (the fuzzer's bombs unpack to 64 MB)")
    p.add_argument("--skip-fuzz", action="store_true")
    p.add_argument("--skip-soak", action="store_true")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.fuzz_requests, args.clients, args.seconds = 700, 8, 10.0
    import torch

    torch.set_num_threads(1)
    from healthnn.serve.keys import KeyStore

    out: dict = {"command": command_line(), "load_average_start": load_average()}
    with tempfile.TemporaryDirectory(prefix="healthnn-soak-") as tmp:
        tmp = Path(tmp)
        _train(tmp)
        key = KeyStore(tmp / "keys.json").add("bench", ["predict", "explain", "deid"])
        if not args.skip_fuzz:
            out["fuzz"] = run_fuzz(tmp, key, args.fuzz_requests, args.max_unpacked_mb)
            print("fuzz:", {k: v for k, v in out["fuzz"].items() if k != "server_errors"},
                  flush=True)
            for e in out["fuzz"]["server_errors"]:
                print("  5xx:", e)
        if not args.skip_soak:
            out["soak"] = run_soak(tmp, key, args.clients, args.seconds)
            print("soak:", out["soak"], flush=True)
    out["load_average_end"] = load_average()
    write_json("serve_soak", out)


if __name__ == "__main__":
    main()
