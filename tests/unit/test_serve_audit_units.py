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


def test_dicom_pixel_count_from_the_header_only():
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    from healthnn.serve.uploads import check_pixels

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = 3000, 4000, 2
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.SamplesPerPixel, ds.PixelRepresentation = 7, 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(16)  # the header declares far more than is sent
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    assert pydicom.dcmread(io.BytesIO(buf.getvalue())).Rows == 3000
    with pytest.raises(HTTPException) as e:
        check_pixels(".dcm", buf.getvalue(), buf.getvalue(), max_unpacked=2**30,
                     max_pixels=20_000_000)
    assert e.value.status_code == 413 and "3000 x 4000 x 2 = 24.0 M pixels" in e.value.detail
    check_pixels(".dcm", buf.getvalue(), buf.getvalue(), max_unpacked=2**30,
                 max_pixels=30_000_000)  # under the limit: passes
