"""Reading one DICOM image: pixel data to ``float32 (H, W[, 3])`` in ``[0, 1]``.

* Grey images (MONOCHROME1/2) go through the modality LUT (rescale slope and intercept), then
  an explicit window or the file's VOI LUT / window, and are min-max scaled per image;
  MONOCHROME1 is inverted so that higher is always brighter.
* Colour images come out as RGB exactly once: pydicom's decoders already convert YBR_FULL and
  YBR_FULL_422 to RGB (and JPEG 2000 decoders undo YBR_RCT / YBR_ICT), so the photometric
  interpretation *after* decoding decides what is left to do; PALETTE COLOR goes through its
  lookup table. Colour is scaled by its bit depth (8-bit by 255), not per image, so colours
  keep their meaning.
* Only the requested frame of a multi-frame file is decoded; given the model's input size,
  it is shrunk by a whole factor right after decoding (not for LUT sequences or palettes).
* Limits are checked before decoding: rows x columns from the header against ``max_pixels``,
  and a Deflated Explicit VR Little Endian data set is inflated with a bound
  (``max_unpacked_bytes``) instead of whole.
* Compressed transfer syntaxes need a decoder plugin; when one is missing, the message names
  the package to install. A file without the 128-byte preamble and file meta (written by old
  software) is read with ``force=True``.

Nothing from a header is ever put into a message: headers hold patient names.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

import numpy as np

from healthnn.data.pixels import ImageError, describe_error, minmax01
from healthnn.data.limits import check_pixels, inflate
from healthnn.errors import DataError

__all__ = ["read_dicom", "PLUGINS"]

_DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT",
             b"UV"}

# transfer syntax UID prefix -> (import name, PyPI package) that pydicom decodes it with
PLUGINS: dict[str, list[tuple[str, str]]] = {
    "1.2.840.10008.1.2.4.51": [("pylibjpeg", "pylibjpeg"), ("libjpeg", "pylibjpeg-libjpeg")],
    "1.2.840.10008.1.2.4.57": [("pylibjpeg", "pylibjpeg"), ("libjpeg", "pylibjpeg-libjpeg")],
    "1.2.840.10008.1.2.4.70": [("pylibjpeg", "pylibjpeg"), ("libjpeg", "pylibjpeg-libjpeg")],
    "1.2.840.10008.1.2.4.80": [("pylibjpeg", "pylibjpeg"), ("libjpeg", "pylibjpeg-libjpeg")],
    "1.2.840.10008.1.2.4.81": [("pylibjpeg", "pylibjpeg"), ("libjpeg", "pylibjpeg-libjpeg")],
    "1.2.840.10008.1.2.4.90": [("pylibjpeg", "pylibjpeg"), ("openjpeg", "pylibjpeg-openjpeg")],
    "1.2.840.10008.1.2.4.91": [("pylibjpeg", "pylibjpeg"), ("openjpeg", "pylibjpeg-openjpeg")],
    "1.2.840.10008.1.2.4.201": [("pylibjpeg", "pylibjpeg"), ("openjpeg", "pylibjpeg-openjpeg")],
    "1.2.840.10008.1.2.4.202": [("pylibjpeg", "pylibjpeg"), ("openjpeg", "pylibjpeg-openjpeg")],
    "1.2.840.10008.1.2.4.203": [("pylibjpeg", "pylibjpeg"), ("openjpeg", "pylibjpeg-openjpeg")],
}


def missing_plugins(transfer_syntax: str) -> list[str]:
    """The PyPI packages that decoding ``transfer_syntax`` needs and that are not installed.

    >>> missing_plugins("1.2.840.10008.1.2.1")  # uncompressed: nothing needed
    []
    """
    needs = PLUGINS.get(str(transfer_syntax), [])
    missing = [pkg for mod, pkg in needs if not _installed(mod)]
    if missing or not needs:
        return missing
    from pydicom.pixels import get_decoder

    try:  # installed, but pydicom has no working plugin for it (a broken install)
        available = get_decoder(str(transfer_syntax)).is_available
    except (NotImplementedError, ValueError):
        available = False
    return [] if available else [pkg for _, pkg in needs]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _meta(head: bytes) -> tuple[int, str | None]:
    """(offset where the data set starts, transfer syntax UID) from a file's first bytes,
    for a file with the preamble and an explicit-VR file meta group (PS3.10 7.1)."""
    pos, ts = 132, None
    while pos + 8 <= len(head) and head[pos:pos + 2] == b"\x02\x00":
        elem, vr = head[pos + 2:pos + 4], head[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            length, start = int.from_bytes(head[pos + 8:pos + 12], "little"), pos + 12
        else:
            length, start = int.from_bytes(head[pos + 6:pos + 8], "little"), pos + 8
        if elem == b"\x10\x00":
            ts = head[start:start + length].rstrip(b"\x00 ").decode("ascii", "replace")
        pos = start + length
    return pos, ts


def _open(src: Any, label: str, max_unpacked_bytes: int):
    """The parsed data set; a deflated one is inflated here, with the bound."""
    import pydicom
    from pydicom.filereader import read_dataset

    if isinstance(src, (str, Path)):
        with open(src, "rb") as f:
            head = f.read(65536)
    else:
        head = src.getvalue()[:65536]
    if head[128:132] == b"DICM" and _DEFLATED.encode() in head[132:]:
        end, ts = _meta(head)
        if ts == _DEFLATED:
            data = Path(src).read_bytes() if isinstance(src, (str, Path)) else src.getvalue()
            meta = pydicom.dcmread(io.BytesIO(data[:end]))
            body = inflate(data[end:], max_unpacked_bytes, file=label,
                           what="the deflated DICOM data set")
            inner = read_dataset(io.BytesIO(body), is_implicit_VR=False, is_little_endian=True)
            return pydicom.dataset.FileDataset(label, inner, preamble=data[:128],
                                               file_meta=meta.file_meta, is_implicit_VR=False,
                                               is_little_endian=True)
    try:
        return pydicom.dcmread(src)
    except pydicom.errors.InvalidDicomError:
        data = Path(src).read_bytes() if isinstance(src, (str, Path)) else src.getvalue()
        return _headerless(data)


def _headerless(data: bytes):
    """A data set written without the preamble and file meta (old software), read with
    ``force=True``. Such files are often cut from a Part 10 file a byte or two off (pydicom's
    own ``no_meta.dcm`` starts with the last padding byte of the meta group), so when the
    first read finds no pixel data, the read starts again at the first of the next few bytes
    that opens group 0008, where every image's data set starts."""
    import pydicom

    first = pydicom.dcmread(io.BytesIO(data), force=True)
    if "PixelData" in first:
        return first
    for off in range(1, 8):
        if data[off:off + 2] == b"\x08\x00":
            try:
                ds = pydicom.dcmread(io.BytesIO(data[off:]), force=True)
            except Exception:
                continue
            if "PixelData" in ds:
                return ds
    return first


def read_dicom(src: Any, *, window: list[float] | None = None, frame: int | None = None,
               name: str | None = None, max_pixels: int, max_unpacked_bytes: int,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one DICOM image (a path or a ``BytesIO``) to ``float32`` in ``[0, 1]``,
    ``(H, W)`` for grey and ``(H, W, 3)`` for colour (see the module notes). ``size``: the
    ``(height, width)`` the caller resizes to; grey and RGB pixels are then averaged over
    whole-factor blocks right after decoding, before any float copy at full size."""
    label = name or str(src)
    try:
        ds = _open(src, label, max_unpacked_bytes)
    except DataError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read DICOM ({describe_error(exc)}); the file is corrupt, truncated "
                           "or not DICOM", file=label, hint="re-export or remove it") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if "Rows" not in ds and "SOPClassUID" not in ds:
            raise ImageError("cannot read DICOM (no DICOM elements found); the file is "
                               "corrupt, truncated or not DICOM", file=label,
                               hint="re-export or remove it")
        raise ImageError("DICOM file has no pixel data (a waveform, report or other non-image "
                           "object)", file=label, hint="remove it from the image list")
    k = _frame(ds, frame, label)
    try:
        check_pixels((int(ds.Rows), int(ds.Columns)), max_pixels, file=label,
                     what="DICOM image")
    except (AttributeError, TypeError, ValueError):
        raise ImageError("DICOM file has no valid Rows / Columns", file=label,
                           hint="re-export or remove it") from None
    try:
        return _pixels(ds, k, window, size)
    except DataError:
        raise
    except Exception as exc:
        ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        missing = missing_plugins(ts)
        if missing:
            raise ImageError(f"cannot decode DICOM pixel data: its transfer syntax "
                             f"({_ts_name(ts)}) needs a decoder plugin that is not installed "
                             f"or not working ({', '.join(missing)})", file=label,
                             hint=f"pip install {' '.join(missing)}; the 'image' extra has "
                             "them") from None
        raise ImageError(f"cannot decode DICOM pixel data ({describe_error(exc)}); the file may be "
                           "truncated or use an unsupported compression", file=label,
                           hint="re-export it uncompressed, or remove it") from None


def _ts_name(uid: str) -> str:
    import pydicom

    return pydicom.uid.UID(uid).name if uid else "unknown"


def _frame(ds: Any, frame: int | None, label: str) -> int | None:
    try:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        frames = 1
    if frames <= 1:
        return None
    k = frames // 2 if frame is None else frame
    if not -frames <= k < frames:
        raise ImageError(f"frame {k} is outside this multi-frame DICOM's {frames} frames",
                           file=label, hint="set [data] dicom_frame")
    return k % frames


def _pixels(ds: Any, k: int | None, window: list[float] | None,
            size: tuple[int, int] | None = None) -> np.ndarray:
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, get_decoder

    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None:  # no file meta: the encoding pydicom found while reading
        import pydicom.uid as uids

        ts = (uids.ImplicitVRLittleEndian if ds.original_encoding[0]
              else uids.ExplicitVRLittleEndian if ds.original_encoding[1]
              else uids.ExplicitVRBigEndian)
        ds.file_meta = _meta_for(ts)
    raw, info = get_decoder(ts).as_array(ds, index=k, as_rgb=True)
    photometric = str(info.get("photometric_interpretation")
                      or getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    integer = raw.dtype.kind in "iu"
    if (size is not None and integer and photometric in ("MONOCHROME1", "MONOCHROME2", "RGB")
            and "ModalityLUTSequence" not in ds and "VOILUTSequence" not in ds):
        raw = _shrink(raw, size)  # before the float copies; the LUTs left are linear
    if photometric.startswith("MONOCHROME"):
        arr = apply_modality_lut(raw, ds).astype(np.float32)
        if window is not None:
            c, w = float(window[0]), max(float(window[1]), 1e-6)
            arr = np.clip((arr - (c - w / 2)) / w, 0.0, 1.0)
        elif "VOILUTSequence" in ds or "WindowCenter" in ds:
            arr = apply_voi_lut(arr, ds).astype(np.float32)
        arr = minmax01(arr)
        return 1.0 - arr if photometric == "MONOCHROME1" else arr
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(raw, ds)
        return _by_depth(rgb, int(ds.RedPaletteColorLookupTableDescriptor[2]), True)
    if raw.ndim == 3 and raw.shape[-1] == 3:
        if photometric.startswith("YBR"):  # a decoder that left YCbCr (raw YBR_FULL / 422)
            from pydicom.pixels import convert_color_space

            raw = convert_color_space(raw, photometric, "RGB")
        return _by_depth(raw, int(info.get("bits_stored") or ds.get("BitsStored") or 8), integer)
    return minmax01(raw.astype(np.float32))


def _meta_for(ts: Any):
    from pydicom.dataset import FileMetaDataset

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ts
    return meta


def _by_depth(arr: np.ndarray, bits: int, integer: bool) -> np.ndarray:
    """Colour scaled by its bit depth (8-bit by 255); float pixel data min-max per image."""
    if not integer:
        return minmax01(arr)
    top = float(2 ** max(1, min(bits, 32)) - 1)
    return np.clip(arr.astype(np.float32) / top, 0.0, 1.0)


def _shrink(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Integer pixels averaged over ``f x f`` blocks (float32), ``f`` the largest whole
    factor that keeps the image at least ``size``; the last ``< f`` rows and columns are
    left out. Without a full-size float copy (the mean is reduced in float32 chunks).

    >>> _shrink(np.arange(16, dtype=np.uint16).reshape(4, 4), (2, 2)).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    h, w = raw.shape[:2]
    f = min(h // max(size[0], 1), w // max(size[1], 1))
    if f < 2:
        return raw
    hh, ww = h // f, w // f
    blocks = raw[:hh * f, :ww * f].reshape((hh, f, ww, f) + raw.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)
