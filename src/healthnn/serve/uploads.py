"""Uploaded files at the server's edge: accepted types, and bombs refused from their headers
before anything decodes them; client-facing messages without the server's internals.

Checked before any reader runs (each in bounded time and memory): a gzip stream or a DICOM
file in Deflated Explicit VR Little Endian is inflated in 1 MB steps and refused past
``max_unpacked`` bytes (nothing is kept); a Parquet file's footer gives its row count and
uncompressed size; an image's header (PNG, JPEG, TIFF, ... via Pillow's lazy open; DICOM
rows x columns x frames; NIfTI dimensions) gives its pixel count, refused over
``max_pixels``.

>>> hide_internals("cannot identify image file <_io.BytesIO object at 0x7f3a2c1d0>")
'cannot identify image file the uploaded file'
"""

from __future__ import annotations

import io
import re
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

from fastapi import HTTPException

__all__ = ["check_upload", "saved_upload", "hide_internals", "client_name", "check_gzip",
           "check_parquet", "check_pixels", "DEFLATED_DICOM"]

DEFLATED_DICOM = b"1.2.840.10008.1.2.1.99"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_TMP_DIR = re.compile(r"[^\s'\"]*healthnn-(?:upload|explain)-[^/\s'\"]+/")
_OBJECT = re.compile(r"<[A-Za-z0-9_.]+ object at 0x[0-9a-fA-F]+>")
_DICOM_HEAD = 1 << 16
_IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


def hide_internals(text: str) -> str:
    """A message for the client: an uploaded file is named as the client sent it, never by
    the server's temporary folder; Python object reprs (``<_io.BytesIO object at 0x...>``)
    become 'the uploaded file'; other paths under the temporary folder are cut."""
    text = _TMP_DIR.sub("", text)
    text = _OBJECT.sub("the uploaded file", text)
    tmp = tempfile.gettempdir().rstrip("/")
    if tmp and tmp != "/":
        text = re.sub(re.escape(tmp) + r"/[^\s'\"]*", "(a temporary file)", text)
    return text


def client_name(filename: str) -> str:
    """The uploaded file's own name (no folders), as messages about it show it."""
    return Path(filename.replace("\\", "/")).name[:100] or "upload"


def check_upload(schema: dict[str, Any], model: str, filename: str, data: bytes, *,
                 max_unpacked: int = 512 * 2**20, max_pixels: int = 50_000_000) -> str:
    """The accepted suffix of an upload, or a 4xx saying what is wrong with it."""
    accept = schema.get("accept") or []
    if not schema.get("upload") or not accept:
        raise HTTPException(422, f"model '{model}' does not take file uploads; POST JSON rows "
                            f"to /models/{model}/predict")
    lower = filename.lower()
    suffix = next((s for s in sorted(accept, key=len, reverse=True) if lower.endswith(s)), None)
    if suffix is None:
        raise HTTPException(422, f"this file type is not accepted by model '{model}' "
                            f"(accepted: {', '.join(accept)})")
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    head = data
    if suffix.endswith(".gz"):
        head = check_gzip(data, max_unpacked)
    if suffix == ".parquet":
        check_parquet(data, max_unpacked)
    check_pixels(suffix, head, data, max_unpacked=max_unpacked, max_pixels=max_pixels,
                 name=client_name(filename))
    return suffix


def saved_upload(schema: dict[str, Any], model: str, filename: str, data: bytes, tmp: Path,
                 **limits: Any) -> Path:
    """The upload written to the folder ``tmp`` under a safe name with its suffix."""
    suffix = check_upload(schema, model, filename, data, **limits)
    stem = _SAFE.sub("_", Path(filename[: -len(suffix)]).name)[:60].strip("._") or "upload"
    path = tmp / f"{stem}{suffix}"
    path.write_bytes(data)
    return path


def _inflate_bounded(d: Any, data: bytes, limit: int, keep: int = 0) -> bytes:
    """Run decompressor ``d`` over ``data`` in 1 MB steps; 413 past ``limit`` bytes. Returns
    the first ``keep`` bytes of the output (a header), nothing more is kept."""
    total, first = 0, b""
    chunk = d.decompress(data, 1 << 20)
    while chunk:
        total += len(chunk)
        if len(first) < keep:
            first += chunk[: keep - len(first)]
        if total > limit:
            raise HTTPException(413, f"the file unpacks to more than {limit // 2**20} MB")
        chunk = d.decompress(d.unconsumed_tail, 1 << 20)
    return first


def check_gzip(data: bytes, limit: int) -> bytes:
    """Refuse a gzip upload that would unpack to more than ``limit`` bytes (a decompression
    bomb) or is not gzip at all; returns the first unpacked KB (for the header checks)."""
    try:
        return _inflate_bounded(zlib.decompressobj(16 + zlib.MAX_WBITS), data, limit, 1024)
    except zlib.error:
        raise HTTPException(422, "the file is not valid gzip") from None


def check_parquet(data: bytes, limit: int, max_rows: int | None = None) -> None:
    """Refuse a Parquet file whose footer declares more rows than a request may hold or
    more than ``limit`` uncompressed bytes, before any column is decompressed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from healthnn.serve.schemas import MAX_ROWS

    max_rows = MAX_ROWS if max_rows is None else max_rows
    try:
        meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    except (pa.ArrowException, OSError, ValueError):
        raise HTTPException(422, "the file is not a readable Parquet file") from None
    if meta.num_rows > max_rows:
        raise HTTPException(413, f"the file has {meta.num_rows} rows; at most {max_rows} a "
                            "request")
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > limit:
        raise HTTPException(413, f"the file unpacks to more than {limit // 2**20} MB")


def check_pixels(suffix: str, head: bytes, data: bytes, *, max_unpacked: int,
                 max_pixels: int, name: str = "upload") -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels (the readers'
    own check, :func:`healthnn.data.limits.check_pixels`, with the same message), and a
    deflated DICOM file that inflates past ``max_unpacked`` bytes. Headers that cannot be
    parsed are left to the image reader, which reports them."""
    from healthnn.data.limits import TooLargeError
    from healthnn.data.limits import check_pixels as check_shape

    if suffix in _IMAGES:
        shape = _pillow_shape(data)
    elif suffix == ".dcm":
        shape = _dicom_shape(data, max_unpacked)
    elif suffix.startswith(".nii"):
        shape = _nifti_shape(head)
    else:
        return
    if shape is not None:
        try:
            check_shape(shape, max_pixels, file=name)
        except TooLargeError as exc:
            raise HTTPException(413, str(exc)) from None


def _pillow_shape(data: bytes) -> tuple[int, ...] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            frames = int(getattr(im, "n_frames", 1) or 1)
            shape = (int(im.size[1]), int(im.size[0]))
            return shape + (frames,) if frames > 1 else shape
    except Exception:  # noqa: BLE001 - not an image Pillow knows: the reader says why
        return None


def _dicom_shape(data: bytes, max_unpacked: int) -> tuple[int, ...] | None:
    if data[128:132] == b"DICM" and data[132:134] == b"\x02\x00" and data[136:138] == b"UL":
        meta_end = 144 + struct.unpack("<I", data[140:144])[0]
        if DEFLATED_DICOM in data[132:meta_end]:
            try:
                _inflate_bounded(zlib.decompressobj(-zlib.MAX_WBITS), data[meta_end:],
                                 max_unpacked)
            except zlib.error:
                raise HTTPException(422, "the DICOM file's deflated data is damaged") from None
    try:
        import pydicom

        # the header from the first 64 KB only: parsing a whole file here (in the server's
        # thread, which no timeout can stop) could take minutes on a crafted one
        ds = pydicom.dcmread(io.BytesIO(data[:_DICOM_HEAD]), stop_before_pixels=True,
                             force=True, specific_tags=["Rows", "Columns", "NumberOfFrames"])
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        shape = (int(ds.Rows), int(ds.Columns))
        return shape + (frames,) if frames > 1 else shape
    except Exception:  # noqa: BLE001 - the image reader reports an unreadable file
        return None


def _nifti_shape(head: bytes) -> tuple[int, ...] | None:
    if len(head) < 348:
        return None
    for order in ("<", ">"):
        if struct.unpack(order + "i", head[:4])[0] == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            ndim = max(0, min(int(dims[0]), 7))
            return tuple(max(int(d), 1) for d in dims[1:1 + ndim]) or None
    return None
