"""The audit log: one row per request, never the request's content.

Each row holds the time (UTC), the key's name, the endpoint, the model name and version, a
keyed hash (HMAC-SHA256 under the server's secret) of the input, the outcome (HTTP status and a
word), and the latency. Inputs and outputs are not stored, so the log holds no PHI; the keyed
hash lets an auditor who holds the secret check whether a given input was sent, and nobody
else can test guesses against it.

SQLite by default; ``postgresql://...`` URLs use PostgreSQL (psycopg 3). Rows are written by a
background thread in batches (one commit for the records that queued meanwhile);
:meth:`AuditLog.record` returns a future that is done when its row is committed, and the
server waits for it before it sends the response (see :mod:`healthnn.serve.middleware`), so
an answered request is always on record. :meth:`flush` waits until everything queued is written.

Tamper evidence: each row's ``chain`` column is an HMAC-SHA256, keyed with a key derived
from the server's secret, over the row's id and content and the previous row's ``chain``
(:func:`link`). Rows are appended under a table lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
``LOCK TABLE``), so several worker processes extend one chain;
:func:`healthnn.serve.audit_trail.verify` finds the first changed, deleted or inserted row.
A new SQLite database is created readable by its owner only (0600).

>>> import tempfile, pathlib
>>> log = open_audit_log(pathlib.Path(tempfile.mkdtemp()) / "audit.sqlite", secret=b"s")
>>> log.record(AuditRecord(time="2026-01-01T00:00:00Z", key_name="a", endpoint="/health",
...                        model=None, version=None, input_hash=None, status=200,
...                        outcome="ok", latency_ms=1.5)).result(timeout=10)
>>> log.flush(); [r["endpoint"] for r in log.rows()]
['/health']
>>> log.close()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import sqlite3
import stat
import sys
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from healthnn.errors import HealthnnError

__all__ = ["AuditRecord", "AuditLog", "open_audit_log", "chain_key", "link", "FIELDS",
           "warn_if_shared"]

_COLUMNS_SQL = """
    id {pk},
    time TEXT NOT NULL,
    key_name TEXT,
    endpoint TEXT NOT NULL,
    model TEXT,
    version TEXT,
    input_hash TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    chain TEXT
"""


@dataclass
class AuditRecord:
    time: str
    key_name: str | None
    endpoint: str
    model: str | None
    version: str | None
    input_hash: str | None
    status: int
    outcome: str
    latency_ms: float


FIELDS = [f.name for f in fields(AuditRecord)]


def chain_key(secret: bytes) -> bytes:
    """The key of the hash chain, derived from the server's secret (the key file's)."""
    return hmac.new(secret, b"healthnn audit chain", hashlib.sha256).digest()


def link(key: bytes, prev: str | None, row_id: int, values: list[Any]) -> str:
    """The ``chain`` value of row ``row_id`` with ``values`` (in :data:`FIELDS` order) that
    follows a row whose ``chain`` is ``prev`` (None: the first row).

    >>> a = link(b"k", None, 1, ["t", None, "/health", None, None, None, 200, "ok", 1.5])
    >>> a == link(b"k", None, 1, ["t", None, "/health", None, None, None, 200, "ok", 1.5])
    True
    >>> a == link(b"k", None, 2, ["t", None, "/health", None, None, None, 200, "ok", 1.5])
    False
    """
    vals = list(values)
    vals[FIELDS.index("status")] = int(vals[FIELDS.index("status")])
    vals[FIELDS.index("latency_ms")] = float(vals[FIELDS.index("latency_ms")])
    msg = json.dumps([int(row_id), prev or "", *vals], separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, msg.encode("ascii"), hashlib.sha256).hexdigest()


def warn_if_shared(path: Path, what: str) -> None:
    """A warning on stderr when ``path`` may be read or written by others than its owner."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        print(f"healthnn: warning: {what} {path} is open to other users (mode {mode:04o}); "
              f"make it private: chmod 600 {path}", file=sys.stderr, flush=True)


class AuditLog:
    """Queue records and write them, chained, from one background thread."""

    placeholder = "?"

    def __init__(self, secret: bytes | None = None) -> None:
        self._queue: queue.Queue[tuple[AuditRecord, Future] | None] = queue.Queue()
        self._done = threading.Condition()
        self._pending = 0
        self.failures = 0
        self._key = chain_key(secret) if secret is not None else None
        self._thread = threading.Thread(target=self._run, name="healthnn-audit", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def record(self, rec: AuditRecord) -> Future:
        """Queue ``rec``; the returned future is done when its row is committed."""
        fut: Future = Future()
        with self._done:
            self._pending += 1
        self._queue.put((rec, fut))
        return fut

    def flush(self, timeout: float = 10.0) -> None:
        with self._done:
            self._done.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 500:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                self._write([rec for rec, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the server must keep answering; counted
                self.failures += len(batch)
                for _, fut in batch:
                    _settle(fut, exc)
            else:
                for _, fut in batch:
                    _settle(fut, None)
            with self._done:
                self._pending -= len(batch)
                self._done.notify_all()

    def _chained(self, last: tuple[int, str | None] | None,
                 batch: list[AuditRecord]) -> list[tuple]:
        """The rows to insert after the row ``last`` = (id, chain): ids and chain values."""
        row_id, prev = last if last is not None else (0, None)
        out = []
        for rec in batch:
            row_id += 1
            values = list(asdict(rec).values())
            values[FIELDS.index("latency_ms")] = float(rec.latency_ms)
            prev = link(self._key, prev, row_id, values) if self._key is not None else None
            out.append((row_id, *values, prev))
        return out

    def _insert_sql(self) -> str:
        ph = ", ".join([self.placeholder] * (len(FIELDS) + 2))
        return f"INSERT INTO audit_log (id, {', '.join(FIELDS)}, chain) VALUES ({ph})"

    # backends
    def _write(self, batch: list[AuditRecord]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first (for tests and audits)."""
        raise NotImplementedError


def _settle(fut: Future, exc: BaseException | None) -> None:
    """Complete a record's future (one a waiter gave up on may be cancelled already)."""
    try:
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)
    except InvalidStateError:
        pass


_LAST = "SELECT id, chain FROM audit_log ORDER BY id DESC LIMIT 1"


class SQLiteAuditLog(AuditLog):
    def __init__(self, path: Path, secret: bytes | None = None) -> None:
        super().__init__(secret)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _create_private(self.path)
            # timeout: with --workers N several processes append to one WAL database; a
            # writer waits for another's commit instead of failing
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS audit_log ("
                               + _COLUMNS_SQL.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT") + ")")
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(audit_log)")}
            if "chain" not in columns:  # a database from before the hash chain
                self._conn.execute("ALTER TABLE audit_log ADD COLUMN chain TEXT")
        except sqlite3.Error as exc:
            raise HealthnnError(f"cannot open the audit database: {exc}", file=str(self.path),
                                key="--audit-db") from None
        warn_if_shared(self.path, "the audit database")
        self._lock = threading.Lock()
        self._start()

    def _write(self, batch: list[AuditRecord]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # one writer extends the chain at a time
            try:
                rows = self._chained(self._conn.execute(_LAST).fetchone(), batch)
                self._conn.executemany(self._insert_sql(), rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _close(self) -> None:
        with self._lock:
            self._conn.close()

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(f"SELECT {', '.join(FIELDS)} FROM audit_log ORDER BY id")
            return [dict(zip(FIELDS, r, strict=True)) for r in cur.fetchall()]


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only (SQLite gives its -wal and
    -shm files the database's mode); an existing file is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class PostgresAuditLog(AuditLog):
    placeholder = "%s"

    def __init__(self, url: str, secret: bytes | None = None) -> None:
        super().__init__(secret)
        try:
            import psycopg
        except ImportError:
            raise HealthnnError("PostgreSQL audit logs need psycopg", key="--audit-db",
                                hint="pip install 'healthnn[serve]'") from None
        try:
            self._conn = psycopg.connect(url, autocommit=False, connect_timeout=10)
            with self._conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS audit_log ("
                            + _COLUMNS_SQL.format(pk="BIGSERIAL PRIMARY KEY") + ")")
                cur.execute("ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS chain TEXT")
            self._conn.commit()
        except psycopg.Error as exc:
            raise HealthnnError(f"cannot connect to the audit database: {pg_first_line(exc)}",
                                key="--audit-db", hint="check the URL, that the server runs "
                                "and that the user may create tables") from None
        self._lock = threading.Lock()
        self._start()

    def _write(self, batch: list[AuditRecord]) -> None:
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    # one writer extends the chain at a time; readers are not blocked
                    cur.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
                    cur.execute(_LAST)
                    cur.executemany(self._insert_sql(), self._chained(cur.fetchone(), batch))
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    def _close(self) -> None:
        with self._lock:
            self._conn.close()

    def rows(self) -> list[dict[str, Any]]:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(FIELDS)} FROM audit_log ORDER BY id")
            out = [dict(zip(FIELDS, r, strict=True)) for r in cur.fetchall()]
            self._conn.commit()
            return out


def pg_first_line(exc: BaseException) -> str:
    """The first line of a PostgreSQL error (the rest may quote the URL's options)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_audit_log(target: str | Path, secret: bytes | None = None) -> AuditLog:
    """A PostgreSQL log for ``postgresql://`` / ``postgres://`` URLs, else a SQLite file.

    ``secret``: the server's secret (:meth:`healthnn.serve.keys.KeyStore.audit_secret`),
    which keys the hash chain; without it rows are written unchained (tests, reading)."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresAuditLog(text, secret)
    if "://" in text:
        raise HealthnnError(f"unsupported audit database {text.split('://')[0]}://",
                            key="--audit-db", hint="give a SQLite file path or postgresql://...")
    return SQLiteAuditLog(Path(text), secret)
