"""Audit log writer details and the edge helpers (no server)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi import HTTPException

from healthnn.serve.audit import AuditRecord, open_audit_log
from healthnn.serve.audit_trail import verify
from healthnn.serve.uploads import check_parquet, hide_internals


def _rec(status: int = 200) -> AuditRecord:
    return AuditRecord("2026-01-01T00:00:00.000+00:00", "k", "GET /health", None, None, None,
                       status, "ok", 0.5)


def test_a_cancelled_wait_does_not_stop_the_writer(tmp_path):
    log = open_audit_log(tmp_path / "a.sqlite", secret=b"s")
    fut = log.record(_rec())
    fut.cancel()  # a response that gave up waiting
    log.record(_rec(404)).result(timeout=10)
    log.close()
    assert [r["status"] for r in open_audit_log(tmp_path / "a.sqlite").rows()] == [200, 404]
    assert verify(tmp_path / "a.sqlite", b"s").ok


def test_two_writers_extend_one_chain(tmp_path):
    """Two processes' logs (here: two connections) append to one database in turn."""
    a = open_audit_log(tmp_path / "a.sqlite", secret=b"s")
    b = open_audit_log(tmp_path / "a.sqlite", secret=b"s")
    for i in range(30):
        (a if i % 2 else b).record(_rec(200 + i))
    a.close()
    b.close()
    v = verify(tmp_path / "a.sqlite", b"s")
    assert v.ok and v.rows == 30, v.message()


def test_hide_internals():
    import tempfile

    t = tempfile.gettempdir()
    msg = (f"image {t}/healthnn-upload-abc123/Smith.png: cannot identify image file "
           f"<_io.BytesIO object at 0x7f00deadbeef>; see {t}/other/x.npz")
    out = hide_internals(msg)
    assert "Smith.png" in out and "BytesIO" not in out and f"{t}/" not in out


def test_parquet_footer_is_checked_before_reading():
    buf = io.BytesIO()
    pd.DataFrame({"a": range(2000)}).to_parquet(buf)
    with pytest.raises(HTTPException) as e:
        check_parquet(buf.getvalue(), 2**30)
    assert e.value.status_code == 413 and "2000 rows" in e.value.detail
    with pytest.raises(HTTPException) as e:
        check_parquet(b"PAR1 not really", 2**30)
    assert e.value.status_code == 422
