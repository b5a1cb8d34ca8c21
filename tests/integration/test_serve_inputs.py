"""Reader checks over real HTTP (issue 23 items 1, 8, 24): JSON booleans and numbers beyond
float32 are row errors, and an image bomb is refused from its header, not decoded."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest

ROW = {"age": 63, "sex": "M", "bmi": 31.5, "smoker": "current"}


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_booleans_and_out_of_range_numbers_are_row_errors(client, api_keys):
    rows = [ROW, {**ROW, "age": True}, {**ROW, "age": "false"}, {**ROW, "age": 1e40},
            {**ROW, "bmi": -1e308}, {**ROW, "age": "1e400"}]
    r = client.post("/models/heart/predict", json={"rows": rows}, headers=_auth(api_keys.full))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_errors"] == 5
    errors = [row["error"] for row in body["rows"]]
    assert errors[0] == ""
    assert "true/false" in errors[1] and "true/false" in errors[2]
    assert "float32" in errors[3] and "float32" in errors[4] and "infinite" in errors[5]
    assert all(row["values"]["prob_1"] is None for row in body["rows"][1:])


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds one compressed row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + chunk(b"IEND", b""))


def test_image_bomb_upload_is_refused_without_decoding(client, api_keys):
    r = client.post("/models/xray/predict/upload", headers=_auth(api_keys.full),
                    files={"file": ("big.png", _png_header(9000, 9000), "image/png")})
    assert r.status_code < 500, r.text
    text = r.text
    assert "81.0 M pixels" in text and "max_pixels" in text
