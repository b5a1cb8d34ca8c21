"""Decompression bombs made in the test (issue 23 items 1, 2 and 15): every reader refuses a
file whose header or metadata declares too much, before decoding or unpacking it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthnn.data.images import load_image, load_image_bytes
from healthnn.data.limits import TooLargeError, current_limits, read_limits
from healthnn.data.tables import read_table

PIL = pytest.importorskip("PIL.Image")
pydicom = pytest.importorskip("pydicom")
IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"


def _png_bomb(path: Path, width: int, height: int) -> Path:
    """A real, valid grey PNG of ``width x height`` black pixels, compressed row by row (a
    9000 x 9000 one is about 80 KB; nothing of full size is ever held here)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    comp, row, parts = zlib.compressobj(9), b"\x00" * (width + 1), []
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def test_png_bomb_is_refused_from_its_header(tmp_path):
    bomb = _png_bomb(tmp_path / "bomb.png", 9000, 9000)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(TooLargeError, match=r"9000 x 9000 = 81.0 M pixels .* 50.0 M") as e:
        load_image(bomb)
    assert "bomb.png" in str(e.value) and "max_pixels" in str(e.value)
    with pytest.raises(TooLargeError):
        load_image_bytes(bomb.read_bytes(), "upload.png")
    # the header alone decides: the same header with its pixel data cut off is refused the same
    (tmp_path / "cut.png").write_bytes(bomb.read_bytes()[:200])
    with pytest.raises(TooLargeError):
        load_image(tmp_path / "cut.png")
    small = _png_bomb(tmp_path / "ok.png", 300, 200)
    assert load_image(small).shape == (200, 300, 1)
    with pytest.raises(TooLargeError, match="200 x 300 = 60,000 pixels .* limit of 50,000"):
        load_image(small, max_pixels=50_000)
    with read_limits(max_pixels=50_000):
        with pytest.raises(TooLargeError):
            load_image(small)
        assert load_image(small, max_pixels=60_000).shape == (200, 300, 1)  # argument wins
    assert current_limits().max_pixels == 50_000_000


def test_large_images_decode_small_when_the_model_size_is_given(tmp_path):
    from healthnn.data.images import resize

    r = np.random.default_rng(0)
    base = (r.random((50, 40, 3)) * 255).astype(np.uint8)
    big = PIL.fromarray(base).resize((2000, 2500), PIL.BILINEAR)
    for name in ("big.jpg", "big.png"):
        big.save(tmp_path / name)
        full = load_image(tmp_path / name)
        early = load_image(tmp_path / name, size=(224, 224))
        assert full.shape == (2500, 2000, 3)
        assert 224 <= min(early.shape[:2]) and early.shape[0] * early.shape[1] <= full.size // 3 / 16
        diff = (resize(full, (224, 224)) - resize(early, (224, 224))).abs().mean()
        assert float(diff) < 0.02


def _dicom(path: Path, rows: int, cols: int, ts: str, pixels: bytes | None = None) -> Path:
    ds = pydicom.dcmread(IMAGES / "CT_small.dcm")
    ds.Rows, ds.Columns = rows, cols
    ds.PixelData = pixels if pixels is not None else bytes(rows * cols * 2)
    ds.file_meta.TransferSyntaxUID = ts
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_declaring_too_many_pixels_is_refused_before_decoding(tmp_path):
    # a header declaring 10000 x 10000 with only 2 KB of pixel data: decoding would fail,
    # so being refused as too large shows the check comes first
    p = _dicom(tmp_path / "big.dcm", 10_000, 10_000, "1.2.840.10008.1.2.1", bytes(2048))
    with pytest.raises(TooLargeError, match="10000 x 10000 = 100.0 M pixels"):
        load_image(p)
    with pytest.raises(TooLargeError):
        load_image_bytes(p.read_bytes(), "big.dcm")


def test_deflated_dicom_bomb_is_inflated_with_a_bound(tmp_path):
    p = _dicom(tmp_path / "dfl.dcm", 2048, 2048, "1.2.840.10008.1.2.1.99")
    assert p.stat().st_size < 100_000  # 8 MB of pixels
    with pytest.raises(TooLargeError, match="deflated DICOM data set unpacks to more than 1 MB"):
        load_image(p, max_unpacked_bytes=2**20)
    with read_limits(max_unpacked_bytes=2**20):
        with pytest.raises(TooLargeError):
            load_image_bytes(p.read_bytes(), "dfl.dcm")
    assert load_image(p).shape == (2048, 2048, 1)  # within the default limit it reads
    # pydicom's own deflated file reads as pydicom reads it
    real = Path(pydicom.data.get_testdata_file("image_dfl.dcm"))
    ds = pydicom.dcmread(real)
    ref = ds.pixel_array.astype(np.float64)
    np.testing.assert_allclose(load_image(real)[:, :, 0],
                               (ref - ref.min()) / (ref.max() - ref.min()), atol=1e-6)


def test_nifti_gzip_bomb_and_pixel_limit(tmp_path):
    nib = pytest.importorskip("nibabel")
    vol = np.zeros((256, 256, 64), dtype=np.int16)
    vol[100:150, 100:150, 32] = 500
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "v.nii.gz")
    assert (tmp_path / "v.nii.gz").stat().st_size < 200_000  # 8 MB unpacked
    with pytest.raises(TooLargeError, match="unpacks to more than 1 MB"):
        load_image(tmp_path / "v.nii.gz", max_unpacked_bytes=2**20)
    mid = load_image(tmp_path / "v.nii.gz")
    assert mid.shape == (256, 256, 1) and mid.max() == 1.0
    with pytest.raises(TooLargeError, match="NIfTI slice"):
        load_image(IMAGES / "anatomical.nii", max_pixels=1000)


def _parquet(path: Path, rows: int) -> Path:
    df = pd.DataFrame({"age": np.zeros(rows), "note": ["x" * 50] * rows})
    df.to_parquet(path, compression="zstd", index=False)
    return path


def test_parquet_bomb_is_refused_from_its_metadata(tmp_path):
    p = _parquet(tmp_path / "bomb.parquet", 2_000_000)
    assert p.stat().st_size < 500_000
    with pytest.raises(TooLargeError, match="unpacks to .* more than 8 MB") as e:
        read_table(p, max_unpacked_bytes=8 * 2**20)
    assert "bomb.parquet" in str(e.value)
    with pytest.raises(TooLargeError, match="2000000 rows"):
        read_table(p, max_rows=1000)
    with read_limits(max_rows=1000):
        with pytest.raises(TooLargeError):
            read_table(p)
    small = _parquet(tmp_path / "ok.parquet", 10)
    assert len(read_table(small, max_rows=10, max_unpacked_bytes=2**20)) == 10


def test_csv_gzip_and_row_limits(tmp_path):
    import gzip

    p = tmp_path / "t.csv"
    p.write_text("a,b\n" + "1,2\n" * 50)
    assert len(read_table(p, max_rows=50)) == 50
    with pytest.raises(TooLargeError, match="more than 49 rows"):
        read_table(p, max_rows=49)
    gz = tmp_path / "t.csv.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"a,b\n" + b"1,2\n" * 1_000_000)
    with pytest.raises(TooLargeError, match="gzip data unpacks to more than 1 MB"):
        read_table(gz, max_unpacked_bytes=2**20)
    assert len(read_table(gz)) == 1_000_000


def test_large_dicom_is_shrunk_right_after_decoding(tmp_path):
    from healthnn.data.images import resize

    ds = pydicom.dcmread(IMAGES / "CT_small.dcm")
    big = np.kron(ds.pixel_array, np.ones((16, 16), dtype=ds.pixel_array.dtype))  # 2048 x 2048
    p = _dicom(tmp_path / "big.dcm", 2048, 2048, "1.2.840.10008.1.2.1", big.tobytes())
    full = load_image(p)
    early = load_image(p, size=(224, 224))
    assert full.shape == (2048, 2048, 1) and early.shape == (227, 227, 1)  # factor 9
    diff = (resize(full, (224, 224)) - resize(early, (224, 224))).abs().mean()
    assert float(diff) < 0.01
    # colour (RGB) is averaged per channel and still scaled by its bit depth
    rgb = load_image(Path(pydicom.data.get_testdata_file("SC_rgb_rle.dcm")), size=(20, 20))
    assert rgb.shape == (20, 20, 3) and 0.0 <= rgb.min() and rgb.max() <= 1.0


def test_image_max_pixels_setting(tmp_path):
    from image_helpers import image_config

    from healthnn.config import load_config
    from healthnn.errors import ConfigError

    cfg = image_config(tmp_path, max_pixels=0)
    with pytest.raises(ConfigError, match="data.max_pixels.*must be positive"):
        load_config(cfg)
    assert load_config(image_config(tmp_path, max_pixels=10_000)).data.max_pixels == 10_000
