"""A small OpenAPI-driven fuzzer: random and malformed requests, and no answer may be a 5xx.

It reads the server's published OpenAPI document, and for every operation sends requests built
from the declared request schema and mutated: wrong types, missing and extra fields, nulls,
huge, empty and odd Unicode strings, random path parameters; JSON bodies that are not JSON;
uploads with random bytes and names; and, to reach the models themselves, rows built from each
model's own input schema with random values. Requests carry a valid key, no key or a forged
one. Used by a bounded test and by ``bench/serve_fuzz.py`` (the long run).

(Schemathesis was considered; it is not a dependency here because its own pins would have to
be checked against the Flower-compatible FastAPI stack, and this covers what the issue asks:
no 5xx on anything the document allows or nearly allows.)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FuzzResult", "fuzz"]

_STRINGS = ["", " ", "0", "-1", "1e309", "NaN", "inf", "null", "true", "\x00", "é" * 50,
            "\U0001F600", "' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd",
            "C1CC", "c1ccccc1O", "CCO", "x" * 5000, "%s%s%n", "{}", "[]",
            # issue 23.10: lone surrogates, NUL inside text, bidi controls, over-long strings
            "\ud800", "a\udfffb", "Mr \ud83d Smith", "ab\x00cd", "\u202eevil\u202c",
            "\u2066x\u2069", "\u200f\u200e", "y" * 120_000, " " * 3000, "\t\r\n" * 100,
            "Zebediah Quux MRN 4815162342"]


@dataclass
class FuzzResult:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)  # "METHOD path -> status"
    not_json: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)  # connections dropped without an answer

    def count(self, status: int) -> None:
        self.requests += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"].lstrip("#/").split("/")
        node: Any = doc
        for part in ref:
            node = node[part]
        schema = node
    return schema


def _value(doc: dict, schema: dict, r: random.Random, depth: int = 0) -> Any:
    """A value that usually fits ``schema``, sometimes does not."""
    schema = _resolve(doc, schema or {})
    if r.random() < 0.1 or depth > 4:
        return r.choice([None, 0, -1, 3.5, True, r.choice(_STRINGS), [], {}])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _value(doc, r.choice(schema[key]), r, depth + 1)
    t = schema.get("type")
    if "enum" in schema:
        return r.choice([*schema["enum"], "not-an-option"])
    if t == "object" or "properties" in schema:
        props = schema.get("properties", {})
        out = {k: _value(doc, v, r, depth + 1) for k, v in props.items() if r.random() < 0.9}
        if r.random() < 0.2:
            out[r.choice(["extra", "rows ", "__proto__"])] = r.choice(_STRINGS)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            for _ in range(r.randint(0, 4)):
                out[r.choice(_STRINGS)[:30]] = _value(doc, extra, r, depth + 1)
        return out
    if t == "array":
        n = r.choice([0, 1, 1, 2, 3, 25])
        return [_value(doc, schema.get("items", {}), r, depth + 1) for _ in range(n)]
    if t == "string":
        return r.choice(_STRINGS)
    if t == "integer":
        return r.choice([0, 1, -1, 2**31, -(2**63), 10**20])
    if t == "number":
        return r.choice([0.0, -1.5, 1e308, -1e308, 3.14159, 1e-300])
    if t == "boolean":
        return r.choice([True, False])
    return r.choice([None, 1, "x", [1], {"a": 1}])


def _model_row(model: dict, r: random.Random) -> dict[str, Any]:
    """A row from a model's input schema with random, often wrong, values."""
    inp = model.get("input", {})
    row: dict[str, Any] = {}
    for c in inp.get("columns", []):
        if r.random() < 0.1:
            continue
        if c.get("type") == "category" and c.get("levels") and r.random() < 0.7:
            row[c["name"]] = r.choice(c["levels"])
        elif c.get("type") == "number" and r.random() < 0.6:
            row[c["name"]] = r.choice([c.get("default") or 0, -1e6, 0, 1e12, 42.5])
        else:
            row[c["name"]] = r.choice([*_STRINGS, None, True, 7])
    if inp.get("column") and r.random() < 0.9:
        row[inp["column"]] = r.choice(_STRINGS)
    return row


def _bombs() -> list[bytes]:
    """Small files that declare or unpack to huge ones: a PNG header of 9000 x 9000 pixels,
    a gzip of 64 MB of zeros, a DICOM in deflated transfer syntax that inflates to 64 MB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 9000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    gzip_bomb = gz.compress(b"\0" * (64 << 20)) + gz.flush()
    uid = b"1.2.840.10008.1.2.1.99\0"
    ts = struct.pack("<HH", 2, 0x10) + b"UI" + struct.pack("<H", len(uid)) + uid
    meta = struct.pack("<HH", 2, 0) + b"UL" + struct.pack("<HI", 4, len(ts)) + ts
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    dcm = b"\0" * 128 + b"DICM" + meta + co.compress(b"\0" * (64 << 20)) + co.flush()
    return [png, gzip_bomb, dcm]


_BOMBS: list[bytes] = []


def _upload(r: random.Random) -> tuple[str, bytes]:
    if not _BOMBS:
        _BOMBS.extend(_bombs())
    name = r.choice(["x.png", "x.jpg", "x.dcm", "x.nii", "x.nii.gz", "rows.csv", "rows.tsv",
                     "rows.parquet", "x.exe", "", "..png", "a/b/../c.png", "x" * 300 + ".csv",
                     "Zebediah_Quux_4815162342.png", "\u202egnp.exe", "x\x00.png"])
    data = r.choice([b"", b"\x89PNG\r\n\x1a\n" + r.randbytes(64), r.randbytes(200),
                     b"age,sex\n1,2\n", b"smiles\nCCO\nC1CC\n", b"\xff\xfe\x00", b"a,b\n" * 50,
                     b"PAR1" + r.randbytes(40), *_BOMBS])
    return name, data


def fuzz(base_url: str, key: str, *, n: int = 200, seed: int = 0,
         timeout: float = 60.0) -> FuzzResult:
    """Send about ``n`` requests per operation to the server at ``base_url``."""
    import httpx

    r = random.Random(seed)
    result = FuzzResult()
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        doc = client.get("/openapi.json").json()
        models = client.get("/models", headers={"Authorization": f"Bearer {key}"}).json()
        models = models.get("models", [])
        names = [m["name"] for m in models]
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                for _ in range(n):
                    url = path
                    model = r.choice(models) if models else {}
                    if "{name}" in path:
                        url = path.replace("{name}", r.choice(
                            [*names, *names, *names, "nope", "%00", "a" * 300, "..", " "])
                            .replace("/", "%2F") or "x")
                        model = next((m for m in models if f"/{m['name']}/" in url), model)
                    headers = r.choice([{"Authorization": f"Bearer {key}"}] * 8
                                       + [{}, {"Authorization": ("Bearer " + "".join(
                                               ch for ch in r.choice(_STRINGS)
                                               if 32 <= ord(ch) < 127)).strip()}])
                    kwargs: dict[str, Any] = {"headers": headers}
                    content = (op.get("requestBody") or {}).get("content", {})
                    if "application/json" in content:
                        schema = content["application/json"]["schema"]
                        if "rows" in json.dumps(_resolve(doc, schema)) and r.random() < 0.6:
                            body: Any = {"rows": [_model_row(model, r)
                                                  for _ in range(r.choice([1, 1, 2, 5]))]}
                        else:
                            body = _value(doc, schema, r)
                        if r.random() < 0.1:
                            kwargs["content"] = r.choice([b"{", b"", b"\xff", b"[1,2",
                                                          b'{"rows": [{"a": NaN}]}'])
                        else:  # encoded here: lone surrogates travel as \\ud800 escapes
                            kwargs["content"] = json.dumps(body).encode()
                        headers["Content-Type"] = "application/json"
                    elif "multipart/form-data" in content:
                        if r.random() < 0.9:
                            kwargs["files"] = {"file": _upload(r)}
                        if r.random() < 0.3:
                            # raw bytes: a lone surrogate goes out as its (invalid) UTF-8
                            kwargs["data"] = {"target_class": r.choice(_STRINGS)[:300].encode(
                                "utf-8", "surrogatepass")}
                    try:
                        resp = client.request(method.upper(), url, **kwargs)
                    except httpx.TransportError as exc:
                        result.resets.append(f"{method.upper()} {path}: {type(exc).__name__}")
                        continue
                    result.count(resp.status_code)
                    if resp.status_code >= 500:
                        result.server_errors.append(f"{method.upper()} {path} -> "
                                                    f"{resp.status_code}: {resp.text[:200]}")
                    try:
                        resp.json()
                    except ValueError:
                        result.not_json.append(f"{method.upper()} {path} -> {resp.status_code}")
    return result
