"""Issue 22: the tamper-evident audit trail, on SQLite and PostgreSQL: rows changed, deleted
or inserted directly in the database are found by 'healthnn audit verify', which names the
first one; 'healthnn audit export' writes every row. Issue 23.18: a row is committed before
its response is sent."""

from __future__ import annotations

import csv
import json
import sqlite3

import httpx
import pytest

from healthnn.cli import main

ROW = {"age": 63, "sex": "M", "bmi": 31.5, "smoker": "current"}


def _serve_some(serve_bundles, api_keys, target, n=6):
    from serve_fixtures import start_server

    from healthnn.serve import build_app

    app = build_app([serve_bundles["heart"]], keys_path=api_keys.path, audit_db=target)
    running = start_server(app)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as c:
            h = {"Authorization": f"Bearer {api_keys.full}"}
            for i in range(n):
                r = c.post("/models/heart/predict", json={"rows": [{**ROW, "age": 30 + i}]},
                           headers=h)
                assert r.status_code == 200
    finally:
        running.stop()


class _Db:
    """Direct SQL on the audit table, as a tamperer would do it."""

    def __init__(self, target):
        self.target = target

    def run(self, sql: str, params: tuple = ()) -> list[tuple]:
        if str(self.target).startswith("postgresql://"):
            import psycopg

            with psycopg.connect(self.target) as conn:
                cur = conn.execute(sql.replace("?", "%s"), params)
                return cur.fetchall() if cur.description else []
        with sqlite3.connect(self.target) as conn:
            return conn.execute(sql, params).fetchall()


def _verify(target, api_keys, capsys) -> tuple[int, str]:
    code = main(["audit", "verify", str(target), "--keys", str(api_keys.path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_verify_names_the_first_changed_deleted_or_inserted_row(
        serve_bundles, api_keys, tmp_path, capsys, request, backend):
    if backend == "postgresql":
        target = request.getfixturevalue("postgres_url")
        _Db(target).run("DROP TABLE IF EXISTS audit_log")  # a fresh table per test
        # ... and none left behind for the other tests of the session's server
        request.addfinalizer(lambda: _Db(target).run("DROP TABLE IF EXISTS audit_log"))
    else:
        target = str(tmp_path / "audit.sqlite")
    _serve_some(serve_bundles, api_keys, target)
    db = _Db(target)
    ids = [r[0] for r in db.run("SELECT id FROM audit_log ORDER BY id")]
    assert len(ids) == 6 and ids == list(range(ids[0], ids[0] + 6))
    code, out = _verify(target, api_keys, capsys)
    assert code == 0 and "6 audit rows, chain intact" in out, out

    # changed: a status edited in place
    db.run("UPDATE audit_log SET status = 404 WHERE id = ?", (ids[2],))
    code, out = _verify(target, api_keys, capsys)
    assert code == 1 and f"audit row id {ids[2]}:" in out and "does not match" in out, out
    db.run("UPDATE audit_log SET status = 200 WHERE id = ?", (ids[2],))
    assert _verify(target, api_keys, capsys)[0] == 0  # restored exactly: intact again

    # a key name changed in the last row
    db.run("UPDATE audit_log SET key_name = 'someone' WHERE id = ?", (ids[5],))
    code, out = _verify(target, api_keys, capsys)
    assert code == 1 and f"audit row id {ids[5]}:" in out
    db.run("UPDATE audit_log SET key_name = 'clinic' WHERE id = ?", (ids[5],))

    # inserted: a forged row at the end, with a made-up hash
    cols = ("time, key_name, endpoint, model, version, input_hash, status, outcome, "
            "latency_ms, chain")
    db.run(f"INSERT INTO audit_log (id, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           (ids[5] + 1, "2026-01-01T00:00:00.000+00:00", "clinic", "GET /models", None,
            None, None, 200, "ok", 1.0, "0" * 64))
    code, out = _verify(target, api_keys, capsys)
    assert code == 1 and f"audit row id {ids[5] + 1}:" in out
    db.run("DELETE FROM audit_log WHERE id = ?", (ids[5] + 1,))

    # exported as it is now (intact), with the chain values
    out_file = tmp_path / "export.csv"
    assert main(["audit", "export", str(target), "--out", str(out_file)]) == 0
    with out_file.open() as fh:
        exported = list(csv.DictReader(fh))
    assert [int(r["id"]) for r in exported] == ids and all(len(r["chain"]) == 64
                                                           for r in exported)
    assert main(["audit", "export", str(target), "--out", str(tmp_path / "e.jsonl")]) == 0
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["id"] == ids[0]
    capsys.readouterr()

    # deleted: a row in the middle
    db.run("DELETE FROM audit_log WHERE id = ?", (ids[3],))
    code, out = _verify(target, api_keys, capsys)
    assert code == 1 and f"audit row id {ids[4]}:" in out and "deleted" in out, out
    # ... and renumbered to hide the gap: the hash still gives it away
    db.run("UPDATE audit_log SET id = ? WHERE id = ?", (ids[3], ids[4]))
    code, out = _verify(target, api_keys, capsys)
    assert code == 1 and f"audit row id {ids[3]}:" in out


def test_verify_with_another_key_file_fails_and_bad_paths_are_one_line(
        serve_bundles, api_keys, tmp_path, capsys):
    from healthnn.serve.keys import KeyStore

    target = tmp_path / "audit.sqlite"
    _serve_some(serve_bundles, api_keys, target, n=2)
    other = KeyStore(tmp_path / "other.json")
    other.add("x", ["predict"])
    code = main(["audit", "verify", str(target), "--keys", str(other.path)])
    assert code == 1 and "does not match" in capsys.readouterr().err
    code = main(["audit", "verify", str(tmp_path / "nope.sqlite"), "--keys",
                 str(api_keys.path)])
    err = capsys.readouterr().err
    assert code == 2 and "no such audit database" in err and "Traceback" not in err


def test_the_audit_row_is_committed_before_the_response(serve_bundles, api_keys, tmp_path):
    """Issue 23.18: the moment a client has its answer, another connection to the database
    sees the request's row (nothing waits in a queue that a killed worker would lose)."""
    from serve_fixtures import start_server

    from healthnn.serve import build_app

    target = tmp_path / "audit.sqlite"
    app = build_app([serve_bundles["heart"]], keys_path=api_keys.path, audit_db=target)
    running = start_server(app)
    try:
        with httpx.Client(base_url=running.url, timeout=60) as c:
            h = {"Authorization": f"Bearer {api_keys.full}"}
            for i in range(20):
                assert c.post("/models/heart/predict", json={"rows": [ROW]},
                              headers=h).status_code == 200
                with sqlite3.connect(target) as conn:
                    n = conn.execute("SELECT count(*) FROM audit_log WHERE endpoint LIKE "
                                     "'POST%'").fetchone()[0]
                assert n == i + 1
    finally:
        running.stop()
