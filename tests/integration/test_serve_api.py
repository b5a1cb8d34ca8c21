"""The REST API over real HTTP (uvicorn on 127.0.0.1): every endpoint, auth, limits, audit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import numpy as np
import pandas as pd
import pytest
from image_helpers import synthetic, write_png

from healthnn.bundle import load_bundle

ROW = {"age": 63, "sex": "M", "bmi": 31.5, "smoker": "current"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def test_health_needs_no_key_and_openapi_is_published(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["models"] == 3
    doc = client.get("/openapi.json").json()
    assert {"/health", "/models", "/models/{name}/predict", "/models/{name}/explain",
            "/models/{name}/predict/upload", "/deid"} <= set(doc["paths"])
    assert "PredictRequest" in doc["components"]["schemas"]


def test_models_list_name_version_task_schema(client, api_keys, serve_bundles):
    r = client.get("/models", headers=auth(api_keys.full))
    assert r.status_code == 200
    by = {m["name"]: m for m in r.json()["models"]}
    assert {k: by[k]["task"] for k in by} == {"heart": "classification",
                                              "xray": "image_classification",
                                              "esol": "molecule_property"}
    cols = {c["name"]: c for c in by["heart"]["input"]["columns"]}
    assert set(cols) == {"age", "sex", "bmi", "smoker"}
    assert cols["sex"]["levels"] == ["F", "M"] and cols["age"]["type"] == "number"
    assert by["xray"]["input"]["kind"] == "image" and by["xray"]["input"]["rows"] is False
    assert by["esol"]["input"] == {**by["esol"]["input"], "kind": "smiles", "column": "smiles"}
    assert all(len(m["version"]) >= 8 for m in by.values())


def test_predict_rows_equal_in_process_predictions(client, api_keys, serve_bundles, tmp_path):
    rows = [ROW, {"age": 45, "sex": "F", "bmi": None, "smoker": "never"},
            {"age": "not a number", "sex": "F", "bmi": 22, "smoker": "never"}]
    r = client.post("/models/heart/predict", json={"rows": rows}, headers=auth(api_keys.full))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_errors"] == 1 and "age" in body["rows"][2]["error"]
    # the same rows scored from a CSV file in-process
    pd.DataFrame(rows[:2]).to_csv(tmp_path / "rows.csv", index=False)
    bundle = load_bundle(serve_bundles["heart"])
    expected = bundle.predict(bundle.task.read_inputs(tmp_path / "rows.csv"))
    for i in range(2):
        assert body["rows"][i]["error"] == ""
        np.testing.assert_allclose(body["rows"][i]["values"]["prob_1"],
                                   expected["prob_1"][i], rtol=1e-6)
        assert body["rows"][i]["values"]["prediction"] == str(expected["prediction"][i])
    assert body["rows"][2]["values"]["prob_1"] is None


def test_predict_smiles_and_image_upload(client, api_keys, serve_bundles, tmp_path):
    r = client.post("/models/esol/predict", json={"rows": [{"smiles": "CCO"},
                                                           {"smiles": "C1CC"}]},
                    headers=auth(api_keys.full))
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    expected = load_bundle(serve_bundles["esol"]).predict(pd.DataFrame({"smiles": ["CCO"]}))
    np.testing.assert_allclose(rows[0]["values"]["pred_logS"], expected["pred_logS"][0],
                               rtol=1e-6)
    assert rows[1]["error"] and rows[1]["values"]["pred_logS"] is None

    png = write_png(tmp_path / "chest.png", synthetic(1, seed=7))
    r = client.post("/models/xray/predict/upload", headers=auth(api_keys.full),
                    files={"file": ("chest.png", png.read_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    got = r.json()["rows"][0]["values"]
    expected = load_bundle(serve_bundles["xray"]).predict(pd.DataFrame({"path": [str(png)]}))
    np.testing.assert_allclose(got["prob_pneumonia"], expected["prob_pneumonia"][0], rtol=1e-5)


def test_explain_table_image_molecule(client, api_keys, tmp_path):
    r = client.post("/models/heart/explain", json={"rows": [ROW]}, headers=auth(api_keys.full))
    assert r.status_code == 200, r.text
    rows = r.json()["files"][0]["rows"]
    assert {x["feature"] for x in rows} == {"age", "sex", "bmi", "smoker"}
    assert all(np.isfinite(x["contribution"]) for x in rows)

    png = write_png(tmp_path / "x.png", synthetic(0, seed=3))
    r = client.post("/models/xray/explain/upload", headers=auth(api_keys.full),
                    files={"file": ("x.png", png.read_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    images = [f for f in r.json()["files"] if f["media_type"] == "image/png"]
    assert len(images) == 1
    assert base64.b64decode(images[0]["data"])[:8] == b"\x89PNG\r\n\x1a\n"

    r = client.post("/models/esol/explain", json={"rows": [{"smiles": "c1ccccc1O"}]},
                    headers=auth(api_keys.full))
    assert r.status_code == 200, r.text
    svg = [f for f in r.json()["files"] if f["media_type"] == "image/svg+xml"]
    assert b"<svg" in base64.b64decode(svg[0]["data"])


def test_deid(client, api_keys):
    note = "Seen by Dr. John Smith on 03/14/2024. Call 617-555-0199."
    r = client.post("/deid", json={"text": note}, headers=auth(api_keys.full))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "617-555-0199" not in body["text"] and "03/14/2024" not in body["text"]
    assert {"PHONE", "DATE"} <= {s["label"] for s in body["spans"]}


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer hnn_00000000_" + "x" * 43}, 401),
    ({"Authorization": "Basic abc"}, 401),
])
def test_missing_or_wrong_key(client, headers, status):
    r = client.post("/models/heart/predict", json={"rows": [ROW]}, headers=headers)
    assert r.status_code == status and "key" in r.json()["detail"]


def test_scopes_are_enforced(client, api_keys):
    assert client.post("/models/heart/predict", json={"rows": [ROW]},
                       headers=auth(api_keys.predict)).status_code == 200
    r = client.post("/models/heart/explain", json={"rows": [ROW]},
                    headers=auth(api_keys.predict))
    assert r.status_code == 403 and "explain" in r.json()["detail"]
    assert client.post("/deid", json={"text": "x"},
                       headers=auth(api_keys.predict)).status_code == 403


@pytest.mark.parametrize("path, body, fragment", [
    ("/models/nope/predict", {"rows": [ROW]}, "no model named"),
    ("/models/heart/predict", {"rows": []}, "rows"),
    ("/models/heart/predict", {"rows": [{"age": 1}]}, "column not found"),
    ("/models/heart/predict", {"rows": [ROW], "extra": 1}, "extra"),
    ("/models/heart/predict", {"rows": [{"age": [1, 2]}]}, "rows.0.age"),
    ("/models/xray/predict", {"rows": [{"path": "/etc/passwd"}]}, "takes files"),
    ("/deid", {"text": "a", "mode": "surrogate"}, "--key-file"),
    ("/deid", {"text": "a", "mode": "shout"}, "mode"),
])
def test_bad_input_is_a_clear_4xx(client, api_keys, path, body, fragment):
    r = client.post(path, json=body, headers=auth(api_keys.full))
    assert 400 <= r.status_code < 500 and fragment in r.json()["detail"], r.text


def test_bad_uploads(client, api_keys):
    h = auth(api_keys.full)
    r = client.post("/models/xray/predict/upload", headers=h,
                    files={"file": ("x.exe", b"MZ...", "application/octet-stream")})
    assert r.status_code == 422 and "not accepted" in r.json()["detail"]
    r = client.post("/models/xray/predict/upload", headers=h,
                    files={"file": ("x.png", b"not an image", "image/png")})
    assert r.status_code == 200 and r.json()["rows"][0]["error"]  # the row says why
    assert "healthnn-upload" not in r.text and "/tmp" not in r.text  # no server paths
    r = client.post("/models/heart/predict/upload", headers=h,
                    files={"file": ("rows.csv", b"age,sex\n50,F\n", "text/csv")})
    assert r.status_code == 422 and "rows.csv" in r.text and "healthnn-upload" not in r.text
    r = client.post("/models/heart/predict/upload", headers=h,
                    files={"file": ("rows.csv", b"age,sex,bmi,smoker\n50,F,,never\n", "text/csv")})
    assert r.status_code == 200 and r.json()["rows"][0]["error"] == ""
    import gzip

    bomb = gzip.compress(b"\0" * (5 * 2**20))  # 5 KB that unpack to 5 MB (limit here: 4)
    r = client.post("/models/xray/predict/upload", headers=h,
                    files={"file": ("x.nii.gz", bomb, "application/gzip")})
    assert r.status_code == 413 and "unpacks to more than" in r.json()["detail"]
    r = client.post("/models/heart/predict", content=b"{not json",
                    headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422


def test_body_limit(client, api_keys):
    big = {"rows": [{"age": "1" * 2_000_000, "sex": "F", "bmi": 1, "smoker": "never"}]}
    r = client.post("/models/heart/predict", json=big, headers=auth(api_keys.full))
    assert r.status_code == 413 and "MB" in r.json()["detail"]


def test_audit_log_records_every_request_without_inputs(client, api_keys, server):
    secret_value = "Zebediah Quux 1234567"
    client.post("/deid", json={"text": secret_value}, headers=auth(api_keys.full))
    client.get("/models", headers={"Authorization": "Bearer wrong"})
    # a row is queued just after its response is sent: wait until the last one is there
    import time

    deadline = time.monotonic() + 20
    while True:
        server.app.state.audit.flush()
        rows = server.app.state.audit.rows()
        if any(r["endpoint"] == "GET /models" and r["status"] == 401 for r in rows) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    dump = json.dumps(rows)
    assert secret_value not in dump and "Zebediah" not in dump
    deid = [r for r in rows if r["endpoint"] == "POST /deid" and r["status"] == 200][-1]
    assert deid["key_name"] == "clinic" and deid["outcome"] == "ok" and deid["latency_ms"] > 0
    # the input hash is keyed: it matches an HMAC under the server's secret, not a plain hash
    assert deid["input_hash"] != hashlib.sha256(secret_value.encode()).hexdigest()
    secret = server.app.state.keys.audit_secret()
    h = hmac.new(secret, b"healthnn audit input", hashlib.sha256)
    for part in (secret_value.encode(), b""):  # the note, and the (absent) patient
        h.update(len(part).to_bytes(8, "big") + part)
    assert deid["input_hash"] == h.hexdigest()
    bad = [r for r in rows if r["endpoint"] == "GET /models" and r["status"] == 401]
    assert bad and bad[-1]["outcome"] == "unauthorized" and bad[-1]["key_name"] is None
    pred = [r for r in rows if r["endpoint"] == "POST /models/{name}/predict"
            and r["status"] == 200]
    assert pred and pred[-1]["model"] in {"heart", "esol"} and pred[-1]["version"]


def test_rate_limit_and_revocation(serve_bundles, tmp_path):
    from serve_fixtures import start_server

    from healthnn.serve import build_app
    from healthnn.serve.app import Limits
    from healthnn.serve.keys import KeyStore

    store = KeyStore(tmp_path / "keys.json")
    key = store.add("burst", ["predict"])
    app = build_app([serve_bundles["heart"]], keys_path=store.path,
                    audit_db=tmp_path / "a.sqlite", limits=Limits(rate_per_minute=3))
    running = start_server(app)
    try:
        with httpx.Client(base_url=running.url) as c:
            codes = [c.get("/models", headers=auth(key)).status_code for _ in range(5)]
            assert codes[:3] == [200] * 3 and codes[3] == 429
            r = c.get("/models", headers=auth(key))
            assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
            key2 = store.add("other", ["predict"])
            assert c.get("/models", headers=auth(key2)).status_code == 200  # per key
            store.revoke("other")
            r = c.get("/models", headers=auth(key2))
            assert r.status_code == 401 and "revoked" in r.json()["detail"]
    finally:
        running.stop()


def test_audit_log_in_postgresql(serve_bundles, api_keys, postgres_url):
    import psycopg
    from serve_fixtures import start_server

    from healthnn.serve import build_app

    app = build_app([serve_bundles["heart"]], keys_path=api_keys.path, audit_db=postgres_url)
    running = start_server(app)
    try:
        with httpx.Client(base_url=running.url) as c:
            assert c.post("/models/heart/predict", json={"rows": [ROW]},
                          headers=auth(api_keys.full)).status_code == 200
            assert c.get("/models").status_code == 401
    finally:
        running.stop()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT endpoint, key_name, model, status, outcome, input_hash "
                            "FROM audit_log ORDER BY id").fetchall()
    assert rows[0][:5] == ("POST /models/{name}/predict", "clinic", "heart", 200, "ok")
    assert len(rows[0][5]) == 64
    assert rows[1][3] == 401 and rows[1][4] == "unauthorized"


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_every_request_of_a_burst_is_audited(serve_bundles, api_keys, tmp_path, request, db):
    """The audit log is written by a background thread in batches; a burst of concurrent
    requests is recorded in full once the server stops (the log is flushed on close)."""
    import asyncio

    from serve_fixtures import start_server

    from healthnn.serve import build_app
    from healthnn.serve.app import Limits

    target = (request.getfixturevalue("postgres_url") if db == "postgresql"
              else tmp_path / "audit.sqlite")
    app = build_app([serve_bundles["heart"]], keys_path=api_keys.path, audit_db=target,
                    limits=Limits(rate_per_minute=0))
    before = len(app.state.audit.rows())
    running = start_server(app)
    n = 150

    async def fire() -> list[int]:
        async with httpx.AsyncClient(base_url=running.url, timeout=60,
                                     headers=auth(api_keys.full)) as c:
            rs = await asyncio.gather(*(c.post("/models/heart/predict",
                                               json={"rows": [{**ROW, "age": 20 + i % 60}]})
                                        for i in range(n)))
            return [r.status_code for r in rs]

    try:
        codes = asyncio.run(fire())
    finally:
        running.stop()  # closes the log: waits for the queue
    assert codes == [200] * n
    from healthnn.serve.audit import open_audit_log

    log = open_audit_log(target)  # a new connection: what was committed
    rows = log.rows()[before:]
    log.close()
    posted = [r for r in rows if r["endpoint"] == "POST /models/{name}/predict"]
    assert len(posted) == n and all(r["status"] == 200 for r in posted)
    assert len({r["input_hash"] for r in posted}) == 60  # 60 distinct inputs


def test_concurrent_requests_are_batched_without_mixing_them(client, api_keys, server):
    """Rows of concurrent requests are predicted together; each request still gets exactly
    its own rows, and a bad request's error reaches only that request."""
    import asyncio

    rows = [{**ROW, "age": 30 + i} for i in range(12)]
    single = [client.post("/models/heart/predict", json={"rows": [r]},
                          headers=auth(api_keys.full)).json()["rows"][0]["values"]["prob_1"]
              for r in rows]

    async def fire():
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     headers=auth(api_keys.full)) as c:
            reqs = [c.post("/models/heart/predict", json={"rows": [r]}) for r in rows]
            reqs.append(c.post("/models/heart/predict", json={"rows": [{"age": 1}]}))
            reqs.append(c.post("/models/heart/predict", json={"rows": rows[:3]}))
            return await asyncio.gather(*reqs)

    answers = asyncio.run(fire())
    for i in range(12):
        assert answers[i].status_code == 200
        np.testing.assert_allclose(answers[i].json()["rows"][0]["values"]["prob_1"], single[i],
                                   rtol=1e-6)
    assert answers[12].status_code == 422 and "column not found" in answers[12].json()["detail"]
    got = [r["values"]["prob_1"] for r in answers[13].json()["rows"]]
    np.testing.assert_allclose(got, single[:3], rtol=1e-6)


def test_table_contributions_are_prediction_changes(client, api_keys, serve_bundles):
    """A column's contribution = prediction - prediction with that column at its reference
    (numeric: the training median; categorical: an unseen level, which encodes as no level)."""
    r = client.post("/models/heart/explain", json={"rows": [ROW]}, headers=auth(api_keys.full))
    contrib = {x["feature"]: x["contribution"] for x in r.json()["files"][0]["rows"]}
    bundle = load_bundle(serve_bundles["heart"])
    median = bundle.task.preprocessor_.numeric_["age"].median

    def p1(row):
        df = pd.DataFrame([{k: None if v is None else str(v) for k, v in row.items()}],
                          dtype=object)
        return float(bundle.predict(df)["prob_1"][0])

    base = p1(ROW)
    np.testing.assert_allclose(contrib["age"], base - p1({**ROW, "age": median}), atol=1e-6)
    np.testing.assert_allclose(contrib["smoker"], base - p1({**ROW, "smoker": "unseen"}),
                               atol=1e-6)


def test_runtime_onnx_uses_the_export_predictor(serve_bundles, api_keys, tmp_path,
                                                 monkeypatch):
    """--runtime onnx serves predictions from healthnn.export.onnx_predictor (a stand-in here
    that tags its output, so the test sees which runtime answered)."""
    import sys
    import types

    from serve_fixtures import start_server

    from healthnn.serve import build_app

    calls = []

    class Tagged:
        def __init__(self, path, key):
            self.bundle = load_bundle(path, key=key)

        def predict(self, df, file="<input>"):
            calls.append(len(df))
            out = self.bundle.predict(df, file=file)
            out["prob_1"] = 0.25
            return out

    fake = types.ModuleType("healthnn.export")
    fake.onnx_predictor = lambda path, key=None: Tagged(path, key)
    monkeypatch.setitem(sys.modules, "healthnn.export", fake)
    app = build_app([serve_bundles["heart"]], keys_path=api_keys.path,
                    audit_db=tmp_path / "a.sqlite", runtime="onnx")
    running = start_server(app)
    try:
        with httpx.Client(base_url=running.url, headers=auth(api_keys.full)) as c:
            assert c.get("/models").json()["models"][0]["runtime"] == "onnx"
            r = c.post("/models/heart/predict", json={"rows": [ROW]})
            assert r.json()["rows"][0]["values"]["prob_1"] == 0.25 and calls == [1]
    finally:
        running.stop()


def test_timeout_is_a_clear_503(serve_bundles, api_keys, tmp_path):
    from serve_fixtures import start_server

    from healthnn.serve import build_app
    from healthnn.serve.app import Limits

    app = build_app([serve_bundles["esol"]], keys_path=api_keys.path,
                    audit_db=tmp_path / "a.sqlite", limits=Limits(timeout_s=1e-6))
    running = start_server(app)
    try:
        r = httpx.post(running.url + "/models/esol/explain",
                       json={"rows": [{"smiles": "c1ccccc1O"}]}, headers=auth(api_keys.full))
        assert r.status_code == 503 and "no answer within" in r.json()["detail"]
        assert httpx.get(running.url + "/health").status_code == 200  # still serving
    finally:
        running.stop()


def test_encrypted_bundle_is_served_with_its_key(serve_bundles, api_keys, tmp_path):
    import shutil

    from serve_fixtures import start_server

    from healthnn.errors import HealthnnError
    from healthnn.privacy.encryption import encrypt_bundle
    from healthnn.privacy.keys import generate_key_file, load_key
    from healthnn.serve import build_app

    shutil.copytree(serve_bundles["heart"], tmp_path / "heart")
    key = load_key(generate_key_file(tmp_path / "bundle.key"))
    encrypt_bundle(tmp_path / "heart", key)
    with pytest.raises(HealthnnError):
        build_app([tmp_path / "heart"], keys_path=api_keys.path, audit_db=tmp_path / "a.sqlite")
    app = build_app([tmp_path / "heart"], keys_path=api_keys.path,
                    audit_db=tmp_path / "b.sqlite", key=key)
    running = start_server(app)
    try:
        r = httpx.post(running.url + "/models/heart/predict", json={"rows": [ROW]},
                       headers=auth(api_keys.full))
        plain = load_bundle(serve_bundles["heart"]).predict(
            pd.DataFrame([{k: str(v) for k, v in ROW.items()}], dtype=object))
        np.testing.assert_allclose(r.json()["rows"][0]["values"]["prob_1"], plain["prob_1"][0],
                                   rtol=1e-6)
        # the same key enables surrogate de-identification, consistent per patient
        note = {"text": "Call 617-555-0199 on 03/14/2024.", "mode": "surrogate",
                "patient": "p1"}
        a = httpx.post(running.url + "/deid", json=note, headers=auth(api_keys.full)).json()
        b = httpx.post(running.url + "/deid", json=note, headers=auth(api_keys.full)).json()
        assert a["text"] == b["text"] and "617-555-0199" not in a["text"]
        assert "[PHONE]" not in a["text"]
    finally:
        running.stop()


@pytest.mark.parametrize("task, output", [("survival", "risk"), ("regression", "prediction")])
def test_explain_contributions_for_survival_and_regression(task, output, tmp_path):
    """Every table task explains through the same hook; the attributed output is the task's
    main prediction column."""
    from helpers import config_dict, make_table

    from healthnn.pipeline import train
    from healthnn.serve.models import load_models

    make_table(120).to_csv(tmp_path / "d.csv", index=False)
    cfg = config_dict(task, tmp_path / "d.csv", features=["age", "sex", "bmi", "smoker"])
    cfg["train"]["epochs"] = 2
    cfg["report"] = {"enabled": False}
    train(cfg, tmp_path / task, log=lambda m: None)
    model = load_models([tmp_path / task])[task]
    assert [c["name"] for c in model.schema["columns"]] == ["age", "bmi", "sex", "smoker"]
    df = pd.DataFrame([{k: str(v) for k, v in ROW.items()}], dtype=object)
    rows = model.explain(df)[0]["rows"]
    assert {r["output"] for r in rows} == {output}
    assert {r["feature"] for r in rows} == {"age", "bmi", "sex", "smoker"}
    np.testing.assert_allclose(rows[0]["prediction"], model.predict(df)[output][0], rtol=1e-6)


def test_runtime_onnx_serves_exported_models(serve_bundles, api_keys, tmp_path):
    """With the ONNX export installed: export the table and molecule bundles, serve them with
    ONNX Runtime, and compare with PyTorch's predictions."""
    import shutil

    export = pytest.importorskip("healthnn.export", reason="ONNX export not installed")
    pytest.importorskip("onnxruntime")
    from serve_fixtures import start_server

    from healthnn.serve import build_app

    for name in ("heart", "xray"):
        shutil.copytree(serve_bundles[name], tmp_path / name)
        export.export_onnx(tmp_path / name, data=None if name == "heart" else
                           serve_bundles["images"])
    app = build_app([tmp_path / "heart", tmp_path / "xray"], keys_path=api_keys.path,
                    audit_db=tmp_path / "a.sqlite", runtime="onnx")
    running = start_server(app)
    png = write_png(tmp_path / "c.png", synthetic(1, seed=5))
    try:
        with httpx.Client(base_url=running.url, headers=auth(api_keys.full)) as c:
            assert {m["runtime"] for m in c.get("/models").json()["models"]} == {"onnx"}
            got = c.post("/models/heart/predict", json={"rows": [ROW]}).json()
            img = c.post("/models/xray/predict/upload",
                         files={"file": ("c.png", png.read_bytes(), "image/png")}).json()
    finally:
        running.stop()
    torch_heart = load_bundle(serve_bundles["heart"]).predict(
        pd.DataFrame([{k: str(v) for k, v in ROW.items()}], dtype=object))
    np.testing.assert_allclose(got["rows"][0]["values"]["prob_1"], torch_heart["prob_1"][0],
                               atol=1e-5)
    torch_img = load_bundle(serve_bundles["xray"]).predict(pd.DataFrame({"path": [str(png)]}))
    np.testing.assert_allclose(img["rows"][0]["values"]["prob_pneumonia"],
                               torch_img["prob_pneumonia"][0], atol=1e-5)


def test_text_model_predicts_and_explains_notes(api_keys, tmp_path):
    """A text classifier plugs into the server through its input schema alone: a note in a
    JSON row gives class probabilities, and explain gives per-token attributions."""
    from helpers import TEXT, text_config
    from serve_fixtures import start_server

    from healthnn.pipeline import train
    from healthnn.serve import build_app

    df = pd.read_csv(TEXT / "medical_abstracts_250.csv").head(120)
    df.to_csv(tmp_path / "notes.csv", index=False)
    cfg = text_config(tmp_path / "notes.csv")
    cfg["train"]["epochs"] = 1
    cfg["report"] = {"enabled": False}
    train(cfg, tmp_path / "notes", log=lambda m: None)
    app = build_app([tmp_path / "notes"], keys_path=api_keys.path,
                    audit_db=tmp_path / "a.sqlite")
    running = start_server(app)
    note = str(df["text"].iloc[0])
    try:
        with httpx.Client(base_url=running.url, headers=auth(api_keys.full), timeout=60) as c:
            model = c.get("/models").json()["models"][0]
            assert model["input"]["kind"] == "text" and model["input"]["column"] == "text"
            r = c.post("/models/notes/predict", json={"rows": [{"text": note}]})
            assert r.status_code == 200, r.text
            pred = r.json()["rows"][0]["values"]
            probs = [v for k, v in pred.items() if k.startswith("prob_")]
            assert len(probs) == df["label"].nunique() and abs(sum(probs) - 1) < 1e-4
            r = c.post("/models/notes/explain", json={"rows": [{"text": note}]})
            assert r.status_code == 200, r.text
            tokens = next(f for f in r.json()["files"] if f["name"] == "tokens.csv")["rows"]
            assert tokens and {"token", "attribution", "start", "end"} <= set(tokens[0])
            empty = c.post("/models/notes/predict", json={"rows": [{"text": ""}]})
            assert empty.status_code == 200 and empty.json()["rows"][0]["error"]
    finally:
        running.stop()


def test_deid_with_a_trained_ner_model(serve_bundles, api_keys, tmp_path):
    """``serve --deid-ner DIR``: /deid adds the site's NER spans to the rules' (a name the
    rules cannot know); a wrong path fails when the server starts, not at the first request."""
    from helpers import ner_config, ner_notes
    from serve_fixtures import start_server

    from healthnn.config import load_config
    from healthnn.errors import HealthnnError
    from healthnn.pipeline import train
    from healthnn.serve import build_app

    (tmp_path / "ner.jsonl").write_text("".join(json.dumps(d) + "\n" for d in ner_notes(72)))
    train(load_config(ner_config(tmp_path / "ner.jsonl")), tmp_path / "ner", log=lambda m: None)
    with pytest.raises(HealthnnError, match="bundle directory not found"):
        build_app([serve_bundles["heart"]], keys_path=api_keys.path,
                  audit_db=tmp_path / "a.sqlite", deid_ner=tmp_path / "missing")
    note = {"text": "Pt Zorblat Quenwick seen on 4/12/2019 by Dr. Vexmor. BP 120/80."}
    plain = start_server(build_app([serve_bundles["heart"]], keys_path=api_keys.path,
                                   audit_db=tmp_path / "b.sqlite"))
    try:
        rules = httpx.post(plain.url + "/deid", json=note, headers=auth(api_keys.full)).json()
    finally:
        plain.stop()
    assert "Zorblat" in rules["text"]  # no rule knows this name
    running = start_server(build_app([serve_bundles["heart"]], keys_path=api_keys.path,
                                     audit_db=tmp_path / "c.sqlite", deid_ner=tmp_path / "ner"))
    try:
        for mode in ("tag", "mask"):
            r = httpx.post(running.url + "/deid", json={**note, "mode": mode},
                           headers=auth(api_keys.full))
            assert r.status_code == 200, r.text
            body = r.json()
            assert "Zorblat" not in body["text"] and "Quenwick" not in body["text"]
            assert "4/12/2019" not in body["text"] and "120/80" in body["text"]
            assert any(s["label"] == "NAME" for s in body["spans"])
    finally:
        running.stop()
