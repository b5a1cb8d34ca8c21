"""healthnn.io: whole files or nothing, inputs never overwritten, one run per folder."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from healthnn.data.tables import write_table
from healthnn.io import (OutputError, atomic_write, folder_lock, refuse_overwriting_input,
                         same_file, write_json, write_text)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_exception_midway_keeps_the_previous_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "pred.csv"
    write_table(pd.DataFrame({"row": [1, 2, 3]}), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("row\n1\n")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == before
    assert _names(tmp_path) == ["pred.csv"]


def test_a_frame_that_fails_to_serialise_leaves_the_old_parquet(tmp_path):
    target = tmp_path / "p.parquet"
    write_table(pd.DataFrame({"a": [1, 2]}), target)
    bad = pd.DataFrame({"a": [object(), object()]})  # pyarrow cannot write objects
    with pytest.raises(Exception):
        write_table(bad, target)
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]
    assert _names(tmp_path) == ["p.parquet"]


def test_killed_process_leaves_the_previous_complete_file(tmp_path):
    target = tmp_path / "out.csv"
    write_text(target, "row\n" + "".join(f"{i}\n" for i in range(1, 1001)))
    before = target.read_bytes()
    script = textwrap.dedent(f"""
        import os, signal
        from healthnn.io import atomic_write
        with atomic_write({str(target)!r}) as fh:
            fh.write("row\\n")
            for i in range(1, 500):
                fh.write(f"{{i}}\\n")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == before  # untouched, not 499 rows
    left = [n for n in _names(tmp_path) if n != "out.csv"]
    assert all(n.startswith(".out.csv.") and n.endswith(".partial") for n in left)


def test_full_disk_is_one_output_error_naming_the_file(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    write_json(target, {"ok": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="no space left on the device") as e:
        write_json(target, {"ok": 2})
    assert str(target) in str(e.value)
    monkeypatch.undo()
    assert target.read_text().strip().endswith("}") and '"ok": 1' in target.read_text()
    assert _names(tmp_path) == ["m.json"]


def test_same_file_sees_links(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x\n1\n")
    os.link(a, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(a)
    assert same_file(a, tmp_path / "hard.csv") and same_file(a, tmp_path / "soft.csv")
    assert same_file(a, tmp_path / "sub" / ".." / "a.csv")
    assert not same_file(a, tmp_path / "new.csv")
    with pytest.raises(OutputError, match="overwrite the input"):
        refuse_overwriting_input(a, tmp_path / "hard.csv")


def test_folder_lock_refuses_a_second_holder_and_is_released(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(OutputError, match="is writing into this folder"):
            with folder_lock(tmp_path):
                pass
    with folder_lock(tmp_path):  # released when the first block ended
        pass
