"""DICOM on pydicom's own test files: every colour photometric interpretation against pydicom's
``convert_color_space``, one file of each compressed transfer syntax, files without file meta,
and a message naming the missing decoder plugin (issue 19 items 1 and 7)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from healthnn.data.images import ImageError, load_image

pydicom = pytest.importorskip("pydicom")
from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space, pixel_array  # noqa: E402

# only the files inside the wheel: get_testdata_file would try to download the others
FILES = Path(pydicom.data.__file__).parent / "test_files"
J2K = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}  # the codec itself undoes YBR_RCT/ICT


def _read(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True)


def _colour_files() -> list[Path]:
    out = []
    for f in sorted(FILES.glob("*.dcm")):
        try:
            ds = _read(f)
        except Exception:
            continue
        pi = str(ds.get("PhotometricInterpretation", ""))
        if pi and not pi.startswith("MONOCHROME") and "PixelData" in ds:
            out.append(f)
    return out


COLOUR = _colour_files()


def test_the_colour_files_cover_every_colour_interpretation():
    kinds = {str(_read(f).PhotometricInterpretation) for f in COLOUR}
    assert {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "PALETTE COLOR"} <= kinds
    assert len(COLOUR) >= 30


@pytest.mark.parametrize("path", COLOUR, ids=[f.name for f in COLOUR])
def test_colour_matches_pydicoms_own_conversion(path):
    ds = _read(path)
    pi = str(ds.PhotometricInterpretation)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    raw = pixel_array(ds, raw=True, index=frames // 2 if frames > 1 else None)
    if pi == "PALETTE COLOR":
        ref = apply_color_lut(raw, ds)
        top = 2 ** int(ds.RedPaletteColorLookupTableDescriptor[2]) - 1
    else:
        ts = str(ds.file_meta.TransferSyntaxUID)
        ref = convert_color_space(raw, pi, "RGB") if pi.startswith("YBR") and ts not in J2K else raw
        top = 2 ** int(ds.BitsStored) - 1
    out = load_image(path)
    assert out.shape == ref.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ref.astype(np.float32) / top, atol=1e-6)


def test_rgb_and_ybr_encodings_of_one_picture_agree():
    """The same picture saved by dcmtk as RGB and as YBR_FULL JPEG: 0.377 apart before the
    fix (colour converted twice), about 0.011 (JPEG loss) through pydicom alone."""
    a = load_image(FILES / "SC_rgb_dcmtk_+eb+cr.dcm")
    b = load_image(FILES / "SC_rgb_dcmtk_+eb+cy+n1.dcm")
    assert float(np.abs(a - b).mean()) < 0.02
    red = load_image(FILES / "SC_rgb_jpeg_dcmtk.dcm")[5, 50]  # the top band is pure red
    assert red[0] > 0.9 and red[1] < 0.1 and red[2] < 0.1


GREY = {  # one file for each transfer syntax (JPEG-lossy.dcm fails in pylibjpeg too)
    "1.2.840.10008.1.2.4.51": "JPGExtended.dcm",          # JPEG extended, 12-bit lossy
    "1.2.840.10008.1.2.4.70": "SC_rgb_jpeg_gdcm.dcm",     # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "MR_small_jpeg_ls_lossless.dcm",
    "1.2.840.10008.1.2.4.81": "JPEGLSNearLossless_16.dcm",
    "1.2.840.10008.1.2.4.90": "MR_small_jp2klossless.dcm",
    "1.2.840.10008.1.2.4.91": "JPEG2000.dcm",
    "1.2.840.10008.1.2.5": "MR_small_RLE.dcm",
    "1.2.840.10008.1.2.1.99": "image_dfl.dcm",            # deflated explicit VR little endian
    "1.2.840.10008.1.2.2": "MR_small_bigendian.dcm",
}


@pytest.mark.parametrize("uid, name", sorted(GREY.items()))
def test_each_transfer_syntax_decodes_like_pydicom(uid, name):
    ds = _read(FILES / name)
    assert str(ds.file_meta.TransferSyntaxUID) == uid
    out = load_image(FILES / name)
    assert out.shape[:2] == (ds.Rows, ds.Columns)
    if str(ds.PhotometricInterpretation).startswith("MONOCHROME"):
        ref = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            from pydicom.pixels import apply_voi_lut

            ref = apply_voi_lut(ref, ds)
        ref = (ref - ref.min()) / (ref.max() - ref.min())
        np.testing.assert_allclose(out[:, :, 0], ref, atol=1e-5)
    else:
        np.testing.assert_allclose(out, ds.pixel_array / 255.0, atol=1e-6)


def test_file_without_meta_reads_with_force():
    # no_meta.dcm is CT_small.dcm without preamble and file meta (plus a stray padding byte)
    np.testing.assert_array_equal(load_image(FILES / "no_meta.dcm"),
                                  load_image(FILES / "CT_small.dcm"))


def test_a_missing_plugin_is_named(tmp_path):
    """Without pylibjpeg-libjpeg, JPEG-LS cannot be decoded: the message names the package."""
    code = (
        "from pydicom.pixels import get_decoder\n"  # as if pylibjpeg were not installed
        "get_decoder('1.2.840.10008.1.2.4.80').remove_plugin('pylibjpeg')\n"
        "from healthnn.data.images import load_image\n"
        "from healthnn.errors import DataError\n"
        f"try:\n    load_image({str(FILES / 'MR_small_jpeg_ls_lossless.dcm')!r})\n"
        "except DataError as e:\n    print(e)\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "JPEG-LS Lossless" in out.stdout and "pylibjpeg-libjpeg" in out.stdout, out.stderr
    assert "pip install" in out.stdout


def test_not_dicom_at_all_is_a_clear_error(tmp_path):
    p = tmp_path / "x.dcm"
    p.write_bytes(b"this is a text file, not an image" * 10)
    with pytest.raises(ImageError, match="not DICOM|no pixel data"):
        load_image(p)
