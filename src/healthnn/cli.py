"""The ``healthnn`` command line.

Each command is two small functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args)`` calls the Python API. Heavy libraries (torch, pandas) are imported inside
the run functions so ``healthnn --help`` stays instant. Any :class:`HealthnnError` becomes one
line on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from healthnn import __version__
from healthnn.errors import HealthnnError

EXIT_USER_ERROR = 2


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a TOML config into a bundle directory")
    p.add_argument("config", type=Path, help="experiment config (TOML)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=20 (repeatable)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")


def _run_train(args: argparse.Namespace) -> int:
    from healthnn.config import load_config
    from healthnn.pipeline import train

    config = load_config(args.config, overrides=args.overrides)
    bundle = train(config, args.out, resume=args.resume)
    _print_summary(bundle.path, bundle.metrics)
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained bundle on new labelled data")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("data", type=Path, help="labelled data (CSV or Parquet)")
    p.add_argument("--out", type=Path, required=True, help="directory for metrics and predictions")


def _run_evaluate(args: argparse.Namespace) -> int:
    from healthnn.pipeline import evaluate

    result = evaluate(args.bundle, args.data, args.out)
    _print_summary(args.out, result.metrics)
    if result.n_errors:
        print(
            f"{result.n_errors} row(s) could not be evaluated; see the 'error' column in "
            f"{args.out / 'predictions.csv'}",
            file=sys.stderr,
        )
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="add prediction columns to a CSV or Parquet file")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("input", type=Path, help="rows to predict (CSV or Parquet)")
    p.add_argument("--out", type=Path, required=True, help="output file (.csv or .parquet)")


def _run_predict(args: argparse.Namespace) -> int:
    from healthnn.pipeline import predict_file

    n_rows, n_errors = predict_file(args.bundle, args.input, args.out)
    print(f"predicted {n_rows - n_errors} of {n_rows} rows -> {args.out}")
    if n_errors:
        print(
            f"{n_errors} row(s) could not be predicted; their reason is in the 'error' column",
            file=sys.stderr,
        )
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train and evaluate on the data bundled with healthnn")
    p.add_argument("--out", type=Path, default=Path("healthnn-demo"), help="output directory")


def _run_demo(args: argparse.Namespace) -> int:
    from healthnn.demo import run_demo

    run_demo(args.out)
    return 0


def _add_deid(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deid", help="remove protected health information from clinical notes")
    p.add_argument("input", type=Path, help="CSV, Parquet, JSONL, or a folder of .txt files")
    p.add_argument("--out", type=Path, required=True, help="output (same format as the input)")
    p.add_argument("--text-column", default="text", help="column holding the notes (default: text)")
    p.add_argument("--id-column", default=None, help="patient column: scopes surrogates and date shifts")
    p.add_argument("--mode", choices=["tag", "surrogate", "mask"], default="tag",
                   help="tag: [NAME]; surrogate: consistent fake values (needs a key); mask: ****")
    p.add_argument("--spans", type=Path, default=None, help="also write detected spans (JSONL)")
    p.add_argument("--key-file", type=Path, default=None,
                   help="secret key for surrogate mode (default: file named by $HEALTHNN_KEY_FILE)")
    p.add_argument("--terms", type=Path, default=None,
                   help="local dictionary: LABEL<TAB>phrase per line (your sites, wards, staff)")
    p.add_argument("--remove-years", action="store_true", help="also remove bare years (kept by default)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")


def _run_deid(args: argparse.Namespace) -> int:
    from healthnn.privacy._deid_io import deidentify_file
    from healthnn.privacy.deid import load_key, load_terms

    key = load_key(args.key_file) if args.mode == "surrogate" else None
    terms = load_terms(args.terms) if args.terms else None
    report = deidentify_file(
        args.input, args.out, text_column=args.text_column, id_column=args.id_column,
        mode=args.mode, key=key, keep_year=not args.remove_years, terms=terms,
        spans_path=args.spans, workers=args.workers,
    )
    for p in report.problems[:20]:
        where = f"row {p.row}" + (f", column '{p.column}'" if p.column else "")
        print(f"healthnn deid: {args.input}: {where}: {p.message}", file=sys.stderr)
    if report.n_problems:
        print(f"healthnn deid: {report.n_problems} row(s) with problems, all written", file=sys.stderr)
    print(f"{report.n_notes} notes, {report.notes_per_s:.0f} notes/s "
          f"({report.n_spans} PHI spans, {report.n_empty} empty) -> {args.out}")
    return 0


COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "predict": (_add_predict, _run_predict),
    "demo": (_add_demo, _run_demo),
    "deid": (_add_deid, _run_deid),
}


def _print_summary(path: Path, metrics: dict) -> None:
    split = "test" if "test" in metrics else next(iter(metrics), None)
    if split is not None:
        parts = []
        for name, m in list(metrics[split].items())[:6]:
            parts.append(f"{name} {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]")
        print(f"{split}: " + ", ".join(parts))
    print(f"bundle: {path}  (metrics: {Path(path) / 'metrics.json'})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthnn",
        description="Train, evaluate, explain and serve neural networks on clinical data.",
    )
    parser.add_argument("--version", action="version", version=f"healthnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _, run = COMMANDS[args.command]
    try:
        return run(args)
    except HealthnnError as exc:
        if args.debug:
            raise
        print(f"healthnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"healthnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
