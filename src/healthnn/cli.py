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


def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a bundle's predictions (saliency, attributions)")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("input", type=Path, help="inputs to explain (as for 'predict')")
    p.add_argument("--out", type=Path, required=True, help="directory for the explanations")
    p.add_argument("--class", dest="target_class", default=None,
                   help="explain this class (default: the predicted class)")
    p.add_argument("--limit", type=int, default=50, help="explain at most this many inputs")


def _run_explain(args: argparse.Namespace) -> int:
    from healthnn.pipeline import explain

    written = explain(args.bundle, args.input, args.out, target_class=args.target_class,
                      limit=args.limit)
    print(f"wrote {len(written)} explanation file(s) to {args.out}")
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="rewrite report.html of a bundle or an evaluate folder "
                       "from its report.json and metrics.json (no data needed)")
    p.add_argument("dir", type=Path, help="bundle directory ('healthnn train') or output "
                   "directory of 'healthnn evaluate'")
    p.add_argument("--out", type=Path, default=None,
                   help="write the HTML here (default: DIR/report.html)")


def _run_report(args: argparse.Namespace) -> int:
    from healthnn.report import render_report

    path = render_report(args.dir, out=args.out)
    print(f"report: {path}")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train and evaluate on the data bundled with healthnn")
    p.add_argument("--out", type=Path, default=Path("healthnn-demo"), help="output directory")


def _run_demo(args: argparse.Namespace) -> int:
    from healthnn.demo import run_demo

    run_demo(args.out)
    return 0


COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "predict": (_add_predict, _run_predict),
    "explain": (_add_explain, _run_explain),
    "report": (_add_report, _run_report),
    "demo": (_add_demo, _run_demo),
}


def _print_summary(path: Path, metrics: dict) -> None:
    split = "test" if "test" in metrics else next(iter(metrics), None)
    if split is not None:
        parts = []
        for name, m in list(metrics[split].items())[:6]:
            parts.append(f"{name} {_num(m['value'])} [{_num(m['ci_low'])}, {_num(m['ci_high'])}]")
        print(f"{split}: " + ", ".join(parts))
    print(f"bundle: {path}  (metrics: {Path(path) / 'metrics.json'})")
    if (Path(path) / "report.html").is_file():
        print(f"report: {Path(path) / 'report.html'}")


def _num(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"


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
