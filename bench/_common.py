"""Helpers shared by the benchmark scripts (not part of the healthnn package or its tests)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
OUT = BENCH / "out"
CONFIGS = BENCH / "configs"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_average_1_5_15min": load_average(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def set_threads(n: int | None) -> None:
    """Pin torch's intra-op threads. On a small or shared machine OpenMP spin-waiting makes
    tiny MLP batches many times slower with 2 threads than with 1 (measured: BatchNorm on a
    64x64 batch 4 ms vs 0.06 ms while another process used a core)."""
    if n:
        import torch

        torch.set_num_threads(n)


def load_average() -> list[float]:
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out


def write_json(name: str, payload: dict[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def mean_sd(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v == v]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def fmt_mean_sd(values: list[float], digits: int = 3) -> str:
    m, s = mean_sd(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def quiet_log(_msg: str) -> None:
    """A ``log`` for healthnn.train that drops its one-line messages."""
