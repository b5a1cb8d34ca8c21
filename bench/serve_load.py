"""Load on the REST API: throughput and p50/p99 latency at 1, 8 and 32 concurrent clients, for
a table model and an image model, beside the model's in-process throughput.

    python bench/serve_load.py [--seconds 10] [--clients 1 8 32] [--runtimes torch onnx]

The server is ``healthnn serve`` in its own process on 127.0.0.1 (uvicorn, ``--workers``
processes, SQLite audit log, no rate limit). The load generator is ``wrk`` (C, Debian package
``wrk``; ``--generator auto`` uses it when installed) or an asyncio HTTP/1.1 client in this
process; both keep one keep-alive connection per simulated client and send the next request
when the answer arrives (closed loop). Generator and server share the machine's cores; wrk
takes far less CPU per request than the asyncio client (its CPU is reported). asyncio: every
response is checked (status 200 and a prediction without error); wrk counts non-2xx answers,
socket errors and timeouts, and a checked asyncio warm-up precedes each model.

Models: a table classifier trained on the bundled UCI Cleveland heart data (`heart.toml`, 13
predictors) and a small CNN trained on the bundled PneumoniaMNIST subset (`pneumonia.toml`,
28x28); both with few epochs (accuracy is not what is measured). Requests: one patient row as
JSON; one 28x28 PNG as a multipart upload.

In-process throughput: ``Bundle.predict`` on the same one-row input in a loop (what one request
asks of the model), and the model's forward pass alone on that row's tensor.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT, command_line, load_average, machine, markdown_table, quiet_log, versions, write_json,
)

DATASETS = ROOT / "src" / "healthnn" / "datasets"
GOAL_P99_MS = 50.0


def train_models(out: Path) -> dict[str, Path]:
    import healthnn
    from healthnn.config import load_config

    heart = load_config(DATASETS / "heart.toml", overrides=["train.epochs=20",
                                                            "eval.bootstrap=50",
                                                            "report.enabled=false"])
    healthnn.train(heart, out / "heart", log=quiet_log)
    xray = load_config(DATASETS / "pneumonia.toml", overrides=["train.epochs=2",
                                                               "eval.bootstrap=50",
                                                               "report.enabled=false"])
    healthnn.train(xray, out / "xray", log=quiet_log)
    return {"heart": out / "heart", "xray": out / "xray"}


def heart_row() -> dict:
    import pandas as pd

    df = pd.read_csv(DATASETS / "heart.csv")
    row = df.iloc[0].to_dict()
    from healthnn.bundle import load_bundle  # noqa: F401 - the columns the model needs

    return {k: (None if isinstance(v, float) and np.isnan(v) else
                (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}


def xray_png() -> bytes:
    from PIL import Image

    with np.load(DATASETS / "pneumoniamnist_subset.npz") as z:
        img = z["test_images"][0]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


# -- a minimal keep-alive HTTP/1.1 client --------------------------------------------------
def build_request(port: int, path: str, body: bytes, content_type: str, key: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + body


async def one_client(port: int, request: bytes, stop_at: float, latencies: list[float],
                     errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(f"HTTP {status}")
            else:
                row = json.loads(body)["rows"][0]
                if row["error"]:
                    errors.append(row["error"][:80])
    finally:
        writer.close()


async def run_load(port: int, request: bytes, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(one_client(port, request, stop_at, latencies, errors)
                           for _ in range(clients)))
    wall = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(lat), "seconds": wall,
            "throughput": len(lat) / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3]}


# -- wrk: a C load generator (Debian package 'wrk'), used when installed ------------------
_WRK_LUA = """
local f = assert(io.open(os.getenv("HEALTHNN_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("HEALTHNN_BENCH_CTYPE")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("HEALTHNN_BENCH_KEY")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("HEALTHNN_WRK %d %d %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(port: int, path: str, body: bytes, content_type: str, key: str, clients: int,
            seconds: float, tmp: Path) -> dict:
    """One level with wrk (closed loop like the asyncio client: each connection sends its
    next request when the answer arrives). Errors: non-2xx answers, socket errors and
    timeouts (wrk does not read the JSON; the asyncio warm-up checks a body)."""
    import resource
    import shutil

    (tmp / "wrk.lua").write_text(_WRK_LUA)
    (tmp / "wrk-body").write_bytes(body)
    env = {**os.environ, "HEALTHNN_BENCH_BODY": str(tmp / "wrk-body"),
           "HEALTHNN_BENCH_CTYPE": content_type, "HEALTHNN_BENCH_KEY": key}
    threads = max(1, min(clients, 2))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([shutil.which("wrk") or "wrk", f"-t{threads}", f"-c{clients}",
                          f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s",
                          str(tmp / "wrk.lua"), f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, env=env, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out.splitlines() if x.startswith("HEALTHNN_WRK"))
    n, dur_us, *errs, p50, p99 = (int(v) for v in line.split()[1:])
    wall = dur_us / 1e6
    gen_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"clients": clients, "requests": n, "seconds": wall, "throughput": n / wall,
            "p50_ms": p50 / 1000, "p99_ms": p99 / 1000, "errors": sum(errs),
            "error_examples": [f"connect/read/write/status/timeout {errs}"] if sum(errs) else [],
            "generator": "wrk", "generator_cpu_ms_per_request": gen_cpu * 1000 / max(n, 1)}


# -- in-process ------------------------------------------------------------------------------
def in_process(bundle_dir: Path, df, file: Path | None, seconds: float = 3.0) -> dict:
    import torch

    from healthnn.bundle import load_bundle

    b = load_bundle(bundle_dir)
    b.predict(df, file=file or "<bench>")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        b.predict(df, file=file or "<bench>")
        n += 1
    predict_rate = n / (time.perf_counter() - t0)
    inputs, _ = b.task.encode(df, file or Path("<bench>"))
    with torch.no_grad():
        batch = next(iter(b.task.batches(inputs, {"_": torch.zeros(1)}, shuffle=False)))
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if isinstance(x, dict):
            x = next(iter(x.values()))
        b.model(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            b.model(x)
            n += 1
    return {"predict_per_s": predict_rate, "forward_per_s": n / (time.perf_counter() - t0)}


# -- server ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundles: list[Path], keys: Path, audit: Path, runtime: str,
                 workers: int = 1) -> tuple:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "healthnn", "serve", *map(str, bundles),
                             "--port", str(port), "--keys", str(keys), "--audit-db", str(audit),
                             "--rate-limit", "0", "--runtime", runtime,
                             "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc, port
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode()[-2000:] if proc.stdout else ""
                proc.kill()
                raise RuntimeError(f"server did not start ({runtime}): {out}") from None
            time.sleep(0.3)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (uvicorn workers), in
    seconds (Linux /proc)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for k in kids:
            out += [int(k), *_children(int(k))]
    return out


def stop_server(proc) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="per load level")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--runtimes", nargs="+", default=["torch", "onnx"])
    p.add_argument("--quick", action="store_true", help="2 s per level")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--generator", choices=["auto", "wrk", "asyncio"], default="auto",
                   help="load generator: wrk (C, light; used by auto when installed) or the "
                   "asyncio client in this process")
    p.add_argument("--models", nargs="+", default=["heart", "xray"], choices=["heart", "xray"])
    p.add_argument("--repeat", type=int, default=1, help="measure each level this many times")
    args = p.parse_args(argv)
    import shutil

    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "asyncio"
    elif generator == "wrk" and not shutil.which("wrk"):
        p.error("wrk is not installed (Debian: apt-get install wrk)")
    if args.quick:
        args.seconds = 2.0
    import torch

    torch.set_num_threads(1)
    from healthnn.serve.keys import KeyStore

    with tempfile.TemporaryDirectory(prefix="healthnn-bench-serve-") as tmp:
        tmp = Path(tmp)
        bundles = train_models(tmp)
        key = KeyStore(tmp / "keys.json").add("bench", ["predict"])
        row = heart_row()
        png = xray_png()
        (tmp / "x.png").write_bytes(png)
        local = {"heart": in_process(bundles["heart"], pd.DataFrame([row]).astype(object), None),
                 "xray": in_process(bundles["xray"], pd.DataFrame({"path": ["x.png"]}),
                                    tmp / "x.png")}
        boundary = "healthnnbenchboundary"
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png \
            + f"\r\n--{boundary}--\r\n".encode()
        results = []
        for runtime in args.runtimes:
            if runtime == "onnx":
                try:
                    from healthnn.export import export_onnx
                except ImportError:
                    print("runtime onnx: skipped (healthnn.export, the ONNX export, is not in "
                          "this installation)", file=sys.stderr)
                    results.append({"runtime": "onnx", "skipped": "healthnn.export missing"})
                    continue
                for b in bundles.values():  # writes model.onnx into each bundle, checked
                    export_onnx(b)          # against PyTorch on the bundle's own rows
            proc, port = start_server([bundles["heart"], bundles["xray"]], tmp / "keys.json",
                                      tmp / f"audit-{runtime}.sqlite", runtime, args.workers)
            try:
                for model, path, body, ctype in [
                    ("heart", "/models/heart/predict", json.dumps({"rows": [row]}).encode(),
                     "application/json"),
                    ("xray", "/models/xray/predict/upload", multipart,
                     f"multipart/form-data; boundary={boundary}"),
                ]:
                    if model not in args.models:
                        continue
                    request = build_request(port, path, body, ctype, key)
                    warm = asyncio.run(run_load(port, request, 2, 1.0))  # warm up, bodies checked
                    if warm["errors"]:
                        raise RuntimeError(f"warm-up failed: {warm['error_examples']}")
                    for c in [c for c in args.clients for _ in range(args.repeat)]:
                        cpu0 = cpu_seconds(proc.pid)
                        if generator == "wrk":
                            r = run_wrk(port, path, body, ctype, key, c, args.seconds, tmp)
                        else:
                            r = asyncio.run(run_load(port, request, c, args.seconds))
                            r["generator"] = "asyncio"
                        r["server_cpu_ms_per_request"] = \
                            (cpu_seconds(proc.pid) - cpu0) * 1000 / max(r["requests"], 1)
                        r.update(model=model, runtime=runtime, workers=args.workers,
                                 load_average=load_average())
                        results.append(r)
                        print(f"{runtime} {model} {c:>2} clients: {r['throughput']:.0f} req/s, "
                              f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                              f"errors {r['errors']}", file=sys.stderr, flush=True)
            finally:
                stop_server(proc)
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["runtime"], "-", "-", "-", "-", "not run: " + r["skipped"], "", "", "",
                         "", "", "", ""])
            continue
        lp = local[r["model"]]
        goal = ""
        if r["model"] == "heart" and r["clients"] == 32:
            goal = "met" if r["p99_ms"] < GOAL_P99_MS and r["errors"] == 0 else "NOT met"
        rows.append([r["runtime"], r["workers"], r["generator"], r["model"], r["clients"],
                     f"{r['throughput']:.0f}",
                     f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", r["errors"],
                     f"{r['server_cpu_ms_per_request']:.1f}",
                     f"{lp['predict_per_s']:.0f} / {lp['forward_per_s']:.0f}",
                     f"{r['throughput'] / lp['predict_per_s']:.2f}" + (f" ({goal})" if goal
                                                                        else ""),
                     f"{r['load_average'][0]:.1f}" if r.get("load_average") else ""])
    table = markdown_table(["runtime", "workers", "generator", "model", "clients", "req/s", "p50 ms", "p99 ms", "errors",
                            "server CPU ms / request",
                            "in-process predict / forward per s (1 row)",
                            "server / in-process predict", "load avg (1 min)"], rows)
    print(table)
    print(f"\nGoal: table model p99 < {GOAL_P99_MS:g} ms at 32 clients with no errors. "
          f"Load average at the end: {load_average()}")
    write_json("serve_load", {"command": command_line(), "machine": machine(),
                              "versions": versions("fastapi", "uvicorn", "starlette"),
                              "load_average": load_average(), "results": results,
                              "in_process": local, "table": table})


if __name__ == "__main__":
    main()
