"""``healthnn audit verify DB`` and ``healthnn audit export DB --out FILE`` (the command line
side of :mod:`healthnn.serve.audit_trail`; imported by :mod:`healthnn.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["add_audit", "run_audit"]

_DB_HELP = ("the audit database: a SQLite file or postgresql://... (default: "
            "$HEALTHNN_AUDIT_DB, else healthnn-audit.sqlite)")


def add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify or export the tamper-evident audit log of "
                       "'healthnn serve'")
    acts = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ver = acts.add_parser("verify", help="check the hash chain; name the first changed, "
                          "deleted or inserted row (exit 1)")
    exp = acts.add_parser("export", help="write every row with its hash (CSV, or JSON lines "
                          "for .jsonl) for a compliance office")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE")
    for q in (ver, exp):
        q.add_argument("db", nargs="?", default=None, metavar="DB", help=_DB_HELP)
        q.add_argument("--keys", type=Path, default=None, metavar="FILE",
                       help="the server's API key file, which holds the chain's secret "
                       "(default: $HEALTHNN_API_KEYS or ~/.config/healthnn/api_keys.json)")


def run_audit(args: argparse.Namespace) -> int:
    from healthnn.serve.audit_trail import export, verify
    from healthnn.serve.keys import KeyStore, default_keys_path

    db = args.db or os.environ.get("HEALTHNN_AUDIT_DB") or "healthnn-audit.sqlite"
    if args.audit_command == "export":
        n = export(db, args.out)
        print(f"exported {n} audit rows -> {args.out}")
        return 0
    verdict = verify(db, KeyStore(args.keys or default_keys_path()).audit_secret())
    print(verdict.message(), file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1
