"""Checking and exporting the audit log: ``healthnn audit verify DB`` and ``healthnn audit
export DB --out FILE``.

Each row's ``chain`` is an HMAC over its id, its content and the previous row's ``chain``
(:func:`healthnn.serve.audit.link`), keyed from the server's secret, so without the key file
nobody can change, delete or insert a row and keep the chain valid. :func:`verify` walks the
rows in id order and names the first one that does not fit: a gap in the ids (rows deleted),
a row whose hash does not match (the row was changed, inserted, or a row before it was
deleted and the ids renumbered). Deleting rows at the *end* leaves a valid shorter chain: keep
the ``head`` that verify prints (or an export) elsewhere, and compare later.

>>> import tempfile, pathlib
>>> from healthnn.serve.audit import AuditRecord, open_audit_log
>>> db = pathlib.Path(tempfile.mkdtemp()) / "audit.sqlite"
>>> log = open_audit_log(db, secret=b"s")
>>> for i in range(3):
...     _ = log.record(AuditRecord("t", None, "GET /health", None, None, None, 200, "ok", 1.0))
>>> log.close()
>>> verify(db, b"s").ok
True
>>> import sqlite3
>>> with sqlite3.connect(db) as c:
...     _ = c.execute("UPDATE audit_log SET status = 404 WHERE id = 2")
>>> v = verify(db, b"s"); v.ok, v.first_bad
(False, 2)
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthnn.errors import HealthnnError
from healthnn.serve.audit import FIELDS, chain_key, link, pg_first_line

__all__ = ["Verdict", "read_rows", "verify", "export"]

_COLS = ["id", *FIELDS, "chain"]


@dataclass
class Verdict:
    """The result of :func:`verify`."""

    rows: int
    ok: bool
    first_bad: int | None = None  # the id of the first row that does not fit
    problem: str = ""
    unchained: int = 0  # leading rows written before the chain existed (older versions)
    head: str | None = None  # the last row's chain value

    def message(self) -> str:
        if self.ok:
            extra = (f"; the first {self.unchained} rows predate the hash chain"
                     if self.unchained else "")
            return f"{self.rows} audit rows, chain intact (head {self.head or '-'}){extra}"
        return f"audit row id {self.first_bad}: {self.problem}"


def read_rows(target: str | Path) -> list[dict[str, Any]]:
    """Every row (id, fields, chain) in id order, read without changing the database."""
    sql = f"SELECT {', '.join(_COLS)} FROM audit_log ORDER BY id"
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        import psycopg

        try:
            with psycopg.connect(text, connect_timeout=10) as conn, conn.cursor() as cur:
                cur.execute(sql)
                return [dict(zip(_COLS, r, strict=True)) for r in cur.fetchall()]
        except psycopg.Error as exc:
            raise HealthnnError(f"cannot read the audit database: {pg_first_line(exc)}",
                                key="DB") from None
    path = Path(text)
    if not path.is_file():
        raise HealthnnError("no such audit database", file=text,
                            hint="give the --audit-db of 'healthnn serve'")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return [dict(zip(_COLS, r, strict=True)) for r in conn.execute(sql)]
    except sqlite3.Error as exc:
        raise HealthnnError(f"cannot read the audit database: {exc}", file=text) from None


def verify(target: str | Path, secret: bytes) -> Verdict:
    """Check the hash chain of the audit log at ``target`` under the server's ``secret``."""
    key = chain_key(secret)
    rows = read_rows(target)
    prev_id: int | None = None
    prev_chain: str | None = None
    unchained = 0
    for row in rows:
        rid = int(row["id"])
        if row["chain"] is None:
            if prev_chain is None:  # rows written before the chain began
                unchained += 1
                prev_id = rid
                continue
            return Verdict(len(rows), False, rid, "has no hash: inserted by something other "
                           "than the server", unchained)
        if prev_id is not None and rid != prev_id + 1:
            missing = (f"id {prev_id + 1}" if rid == prev_id + 2
                       else f"ids {prev_id + 1} to {rid - 1}")
            return Verdict(len(rows), False, rid, f"row(s) before it are missing ({missing} "
                           "deleted)", unchained)
        values = [row[f] for f in FIELDS]
        if row["chain"] != link(key, prev_chain, rid, values):
            return Verdict(len(rows), False, rid, "its hash does not match: the row was "
                           "changed or inserted, or a row before it was deleted (or the key "
                           "file is not the server's)", unchained)
        prev_id, prev_chain = rid, row["chain"]
    return Verdict(len(rows), True, unchained=unchained, head=prev_chain)


def export(target: str | Path, out: Path) -> int:
    """Write every row (with its chain value) to ``out``: CSV, or JSON lines for ``.jsonl``;
    written to a temporary name in the same folder and renamed into place. The row count."""
    rows = read_rows(target)
    out = Path(out)
    if not out.parent.is_dir():
        raise HealthnnError("the output folder does not exist", file=str(out), key="--out")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if out.suffix.lower() in (".jsonl", ".ndjson"):
                for r in rows:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            else:
                w = csv.DictWriter(fh, fieldnames=_COLS)
                w.writeheader()
                w.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise HealthnnError(f"cannot write the export: {exc.strerror}", file=str(out),
                            key="--out") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(rows)
