"""The audit log: one row per request, never the request's content.

Each row holds the time (UTC), the key's name, the endpoint, the model name and version, a
keyed hash (HMAC-SHA256 under the server's secret) of the input, the outcome (HTTP status and a
word), and the latency. Inputs and outputs are not stored, so the log holds no PHI; the keyed
hash lets an auditor who holds the secret check whether a given input was sent, and nobody
else can test guesses against it.

SQLite by default; ``postgresql://...`` URLs use PostgreSQL (psycopg 3). Rows are written by a
background thread in small batches so logging adds no latency to a request; :meth:`flush`
waits until everything queued is written.

>>> import tempfile, pathlib
>>> log = open_audit_log(pathlib.Path(tempfile.mkdtemp()) / "audit.sqlite")
>>> log.record(AuditRecord(time="2026-01-01T00:00:00Z", key_name="a", endpoint="/health",
...                        model=None, version=None, input_hash=None, status=200,
...                        outcome="ok", latency_ms=1.5))
>>> log.flush(); [r["endpoint"] for r in log.rows()]
['/health']
>>> log.close()
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from healthnn.errors import HealthnnError

__all__ = ["AuditRecord", "AuditLog", "open_audit_log"]

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
    latency_ms DOUBLE PRECISION NOT NULL
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


_FIELDS = [f.name for f in fields(AuditRecord)]


class AuditLog:
    """Queue records and write them from one background thread."""

    placeholder = "?"

    def __init__(self) -> None:
        self._queue: queue.Queue[AuditRecord | None] = queue.Queue()
        self._done = threading.Condition()
        self._pending = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="healthnn-audit", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def record(self, rec: AuditRecord) -> None:
        with self._done:
            self._pending += 1
        self._queue.put(rec)

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
            rec = self._queue.get()
            if rec is None:
                return
            batch = [rec]
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
                self._write(batch)
            except Exception:  # noqa: BLE001 - the server must keep answering; counted
                self.failures += len(batch)
            with self._done:
                self._pending -= len(batch)
                self._done.notify_all()

    def _insert_sql(self) -> str:
        ph = ", ".join([self.placeholder] * len(_FIELDS))
        return f"INSERT INTO audit_log ({', '.join(_FIELDS)}) VALUES ({ph})"

    # backends
    def _write(self, batch: list[AuditRecord]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first (for tests and audits)."""
        raise NotImplementedError


class SQLiteAuditLog(AuditLog):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # timeout: with --workers N several processes append to one WAL database; a
            # writer waits for another's commit instead of failing
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS audit_log ("
                               + _COLUMNS_SQL.format(pk="INTEGER PRIMARY KEY AUTOINCREMENT") + ")")
            self._conn.commit()
        except sqlite3.Error as exc:
            raise HealthnnError(f"cannot open the audit database: {exc}", file=str(self.path),
                                key="--audit-db") from None
        self._lock = threading.Lock()
        self._start()

    def _write(self, batch: list[AuditRecord]) -> None:
        with self._lock:
            self._conn.executemany(self._insert_sql(), [tuple(asdict(r).values()) for r in batch])
            self._conn.commit()

    def _close(self) -> None:
        with self._lock:
            self._conn.close()

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(f"SELECT {', '.join(_FIELDS)} FROM audit_log ORDER BY id")
            return [dict(zip(_FIELDS, r, strict=True)) for r in cur.fetchall()]


class PostgresAuditLog(AuditLog):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
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
            self._conn.commit()
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HealthnnError(f"cannot connect to the audit database: {first}",
                                key="--audit-db", hint="check the URL, that the server runs "
                                "and that the user may create tables") from None
        self._lock = threading.Lock()
        self._start()

    def _write(self, batch: list[AuditRecord]) -> None:
        with self._lock, self._conn.cursor() as cur:
            cur.executemany(self._insert_sql(), [tuple(asdict(r).values()) for r in batch])
            self._conn.commit()

    def _close(self) -> None:
        with self._lock:
            self._conn.close()

    def rows(self) -> list[dict[str, Any]]:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(_FIELDS)} FROM audit_log ORDER BY id")
            out = [dict(zip(_FIELDS, r, strict=True)) for r in cur.fetchall()]
            self._conn.commit()
            return out


def open_audit_log(target: str | Path) -> AuditLog:
    """A PostgreSQL log for ``postgresql://`` / ``postgres://`` URLs, else a SQLite file."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresAuditLog(text)
    if "://" in text:
        raise HealthnnError(f"unsupported audit database {text.split('://')[0]}://",
                            key="--audit-db", hint="give a SQLite file path or postgresql://...")
    return SQLiteAuditLog(Path(text))
