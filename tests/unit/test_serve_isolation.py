"""Work processes (healthnn.serve.isolation): a timeout kills the work, errors come back as
they were raised, and the processes die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from fastapi import HTTPException

from healthnn.errors import DataError
from healthnn.serve.isolation import WorkPool, WorkTimeout


def _raise_http(code: int) -> None:
    raise HTTPException(code, "too big")


def _raise_user() -> None:
    raise DataError("column 'age' is not numeric", file="rows.csv")


def _pid() -> int:
    return os.getpid()


def _spin(seconds: float) -> int:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


@pytest.fixture(scope="module")
def pool():
    p = WorkPool(1, None, (), eager=True)
    yield p
    p.close()


def test_errors_come_back_as_raised(pool):
    with pytest.raises(HTTPException) as e:
        pool.call(_raise_http, 413, timeout=120)
    assert e.value.status_code == 413 and e.value.detail == "too big"
    with pytest.raises(DataError) as e:
        pool.call(_raise_user, timeout=120)
    assert "rows.csv" in str(e.value) and "not numeric" in str(e.value)


def test_a_timeout_kills_the_busy_process_and_a_new_one_takes_over(pool):
    before = pool.call(_pid, timeout=120)
    t0 = time.monotonic()
    with pytest.raises(WorkTimeout):
        pool.call(_spin, 60, timeout=0.5)  # CPU-bound, holds its own GIL
    assert time.monotonic() - t0 < 5
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(before, 0)  # the spinning process is gone (no CPU burns on)
    after = pool.call(_pid, timeout=120)
    assert after != before and pool.kills == 1


def test_work_processes_die_with_their_parent(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from healthnn.serve.isolation import WorkPool
        from test_serve_isolation import _pid
        pool = WorkPool(2, None, (), eager=True)
        print(pool.call(_pid, timeout=120), pool.call(_pid, timeout=120), flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(__file__), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        children = [int(x) for x in proc.stdout.readline().split()]
        assert children and all(c != proc.pid for c in children)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children):
            assert time.monotonic() < deadline, "work processes outlived their parent"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
