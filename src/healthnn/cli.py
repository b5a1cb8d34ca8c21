"""The ``healthnn`` command line.

Each command is two small functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args)`` calls the Python API. Heavy libraries (torch, pandas) are imported inside
the run functions so ``healthnn --help`` stays instant. Any :class:`HealthnnError` becomes one
line on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from healthnn import __version__
from healthnn.errors import HealthnnError
from healthnn.serve.audit_cli import add_audit, run_audit

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
    p.add_argument("--overwrite", action="store_true",
                   help="replace a bundle already in --out (its files are deleted first)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes on this machine (torch.distributed; gloo on "
                   "CPU, NCCL on GPU)")
    p.add_argument("--encrypt", action="store_true",
                   help="encrypt the bundle at rest (AES-256-GCM) with --key-file")
    p.add_argument("--ensemble", type=int, default=None, metavar="K",
                   help="train K copies (seeds seed..seed+K-1) and average them; predictions "
                   "gain '<column>_sd' (same as --set train.ensemble=K)")
    _key_arg(p)


def _run_train(args: argparse.Namespace) -> int:
    from healthnn.config import load_config

    if args.ensemble is not None:
        args.overrides = [*args.overrides, f"train.ensemble={args.ensemble}"]
    config = load_config(args.config, overrides=args.overrides)
    if "WORLD_SIZE" in os.environ:  # a worker of --nproc N: the launcher holds the lock
        return _train_into(args, config)
    from healthnn.bundle_files import train_output

    if args.encrypt:
        _key(args, required=True)  # a missing key is reported before anything is written
    # one run at a time per folder; an existing bundle only with --overwrite (issue 23, 19)
    with train_output(args.out, overwrite=args.overwrite, resume=args.resume,
                      private=args.encrypt):
        return _train_into(args, config)


def _train_into(args: argparse.Namespace, config) -> int:
    from healthnn.pipeline import train

    if args.nproc < 1:
        raise HealthnnError("--nproc must be at least 1")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        if config.split.method == "kfold":  # checked before the workers start
            raise HealthnnError("--nproc, --encrypt and --resume are not available with "
                                "split.method = 'kfold'")
        return _launch_workers(args)
    key = _key(args, required=True) if args.encrypt else None
    result = train(config, args.out, resume=args.resume, encrypt_with=key)
    if isinstance(result, dict):  # [split] method = "kfold": one bundle per fold
        _print_cv(args.out, result)
    elif result is not None:
        _print_summary(result.path, result.metrics)
    return 0


def _launch_workers(args: argparse.Namespace) -> int:
    """Re-run this train command in N processes under torchrun (one node)."""
    import subprocess

    argv = [str(args.config), "--out", str(args.out)]
    for item in args.overrides:
        argv += ["--set", item]
    argv += ["--resume"] * args.resume + ["--encrypt"] * args.encrypt
    if args.key_file:
        argv += ["--key-file", str(args.key_file)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={args.nproc}", "-m", "healthnn", "train", *argv]
    return subprocess.run(cmd, check=False).returncode


def _add_federate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("federate", help="train across sites that keep their rows (Flower "
                       "FedAvg, simulated on this machine) into a normal bundle")
    p.add_argument("config", type=Path, help="experiment config (TOML)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--site-column", default=None,
                   help="column naming each row's site (or [federated] site_column)")
    p.add_argument("--rounds", type=int, default=None, help="FedAvg rounds (default 10)")
    p.add_argument("--local-epochs", type=int, default=None,
                   help="epochs each site trains per round (default 1)")
    p.add_argument("--fraction", type=float, default=None,
                   help="share of sites that train each round (default 1.0)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--encrypt", action="store_true",
                   help="encrypt the bundle at rest (AES-256-GCM) with --key-file")
    _key_arg(p)


def _run_federate(args: argparse.Namespace) -> int:
    import json

    from healthnn.config import load_config
    from healthnn.pipeline import train

    overrides = list(args.overrides)
    for key, value in (("site_column", args.site_column), ("rounds", args.rounds),
                       ("local_epochs", args.local_epochs), ("fraction", args.fraction)):
        if value is not None:
            overrides.append(f"federated.{key}={json.dumps(value)}")
    config = load_config(args.config, overrides=overrides)
    if config.federated is None:
        raise HealthnnError("which column names the sites?",
                            hint="pass --site-column COLUMN (or add [federated] site_column)")
    key = _key(args, required=True) if args.encrypt else None
    bundle = train(config, args.out, encrypt_with=key)
    _print_summary(bundle.path, bundle.metrics)
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained bundle on new labelled data")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("data", type=Path, help="labelled data (CSV or Parquet)")
    p.add_argument("--out", type=Path, required=True, help="directory for metrics and predictions")
    p.add_argument("--outcomes", type=Path, default=None, metavar="FILE",
                   help="event streams: the outcome table of DATA (one row per stay), instead "
                   "of the training config's, e.g. set-b/ --outcomes Outcomes-b.txt")
    p.add_argument("--allow-modified", action="store_true", help=_ALLOW_MODIFIED)
    _key_arg(p)


def _run_evaluate(args: argparse.Namespace) -> int:
    from healthnn.pipeline import evaluate

    result = evaluate(_bundle(args), args.data, args.out, outcomes=args.outcomes)
    _print_summary(args.out, result.metrics)
    if result.n_errors:
        print(
            f"{result.n_errors} row(s) could not be evaluated; see the 'error' column in "
            f"{args.out / 'predictions.csv'}",
            file=sys.stderr,
        )
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="add prediction columns to a table, or predict a "
                       "folder of images or notes",
                       description="Predict with a bundle. Inputs, as the bundle's task "
                       "reads them: a CSV or Parquet table (every task); images: a CSV "
                       "manifest, a folder of PNG/JPEG/DICOM/NIfTI files (searched "
                       "recursively), an .npz or one image; notes: a CSV/Parquet/JSONL table, "
                       "a .txt file or a folder of .txt files; molecules: a table of SMILES; "
                       "ICU stays: event files. The output has the input's rows in order, "
                       "the prediction columns and 'error' (empty, or why that row could not "
                       "be predicted); row numbers in messages (and the 'row' column of a "
                       "bundle's predictions_test.csv) are 1-based, the header not counted. "
                       "A binary classifier trained with [eval] operating_point also writes "
                       "'decision': the class at the threshold chosen on its validation split.")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("input", type=Path, help="rows to predict (a table, or a folder of images "
                   "or notes: see above)")
    p.add_argument("--out", type=Path, required=True, help="output file (.csv or .parquet); "
                   "never the input itself")
    p.add_argument("--allow-modified", action="store_true", help=_ALLOW_MODIFIED)
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="processes for RDKit parsing and featurisation of large molecule "
                   "libraries (default 1; other tasks ignore it)")
    _key_arg(p)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _run_predict(args: argparse.Namespace) -> int:
    from healthnn.io import refuse_overwriting_input
    from healthnn.pipeline import predict_file

    refuse_overwriting_input(args.input, args.out)  # before any work (issue 23)
    n_rows, n_errors = predict_file(_bundle(args), args.input, args.out, key=None,
                                    workers=args.workers)
    print(f"predicted {n_rows - n_errors} of {n_rows} rows -> {args.out}")
    if n_errors:
        print(
            f"{n_errors} row(s) could not be predicted; their reason is in the 'error' column",
            file=sys.stderr,
        )
    return 0


def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a bundle's predictions (saliency, attributions, token highlights)")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("input", type=Path, help="inputs to explain (as for 'predict')")
    p.add_argument("--out", type=Path, required=True, help="directory for the explanations")
    p.add_argument("--class", dest="target_class", default=None,
                   help="explain this class (default: the predicted class)")
    p.add_argument("--limit", type=int, default=50, help="explain at most this many inputs")
    p.add_argument("--format", dest="image_format", choices=["svg", "png"], default=None,
                   help="molecule models: draw atom attributions as SVG (default) or PNG")
    p.add_argument("--allow-modified", action="store_true", help=_ALLOW_MODIFIED)
    _key_arg(p)


def _run_explain(args: argparse.Namespace) -> int:
    from healthnn.pipeline import explain

    written = explain(_bundle(args), args.input, args.out, target_class=args.target_class,
                      limit=args.limit, image_format=args.image_format)
    print(f"wrote {len(written)} explanation file(s) to {args.out}")
    return 0


def _add_keygen(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keygen", help="create a secret key file for encryption and pseudonyms")
    p.add_argument("path", type=Path, help="where to write the key (readable by you only)")


def _run_keygen(args: argparse.Namespace) -> int:
    from healthnn.privacy.keys import generate_key_file, key_id, load_key

    path = generate_key_file(args.path)
    print(f"wrote key {key_id(load_key(path))} to {path}; keep it safe and out of version control")
    return 0


def _add_encrypt(sub: argparse._SubParsersAction) -> None:
    for name, verb in (("encrypt", "encrypt a bundle at rest"), ("decrypt", "decrypt a bundle")):
        p = sub.add_parser(name, help=f"{verb} (AES-256-GCM) in place")
        p.add_argument("bundle", type=Path, help="bundle directory")
        _key_arg(p)


def _run_encrypt(args: argparse.Namespace) -> int:
    from healthnn.bundle import load_bundle
    from healthnn.privacy.encryption import decrypt_bundle, encrypt_bundle

    from healthnn.errors import BundleError
    from healthnn.privacy.encryption import is_encrypted

    key = _key(args, required=True)
    if args.command == "encrypt":
        if is_encrypted(args.bundle):  # issue 23: say so, not "no key was given"
            raise BundleError("this bundle is already encrypted", file=str(args.bundle),
                              hint="nothing to do; 'healthnn decrypt' first to change its key")
        load_bundle(args.bundle)  # refuse to encrypt something that is not a complete bundle
        names = encrypt_bundle(args.bundle, key)
        print(f"encrypted {len(names)} files in {args.bundle}")
    else:
        names = decrypt_bundle(args.bundle, key)
        print(f"decrypted {len(names)} files in {args.bundle}")
    return 0


def _add_pseudonymize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pseudonymize", help="keyed pseudonyms, date shifts and generalisation "
                       "for a patient table, with a k-anonymity report")
    p.add_argument("input", type=Path, help="CSV or Parquet")
    p.add_argument("--out", type=Path, required=True, help="output table (.csv or .parquet)")
    p.add_argument("--id-columns", type=_columns, default=[], metavar="A,B",
                   help="identifier columns replaced by keyed HMAC pseudonyms; the first "
                   "identifies the patient for date shifts")
    p.add_argument("--date-columns", type=_columns, default=[], metavar="A,B",
                   help="dates shifted by a per-patient offset (intervals are preserved)")
    p.add_argument("--age-columns", type=_columns, default=[], metavar="A",
                   help="ages generalised to 5-year bands, 90 and over grouped")
    p.add_argument("--zip-columns", type=_columns, default=[], metavar="A",
                   help="ZIP codes cut to 3 digits (sparse 3-digit areas become 000)")
    p.add_argument("--drop-columns", type=_columns, default=[], metavar="A,B",
                   help="columns removed (names, addresses, free text)")
    p.add_argument("--quasi-identifiers", type=_columns, default=None, metavar="A,B",
                   help="columns for the k-anonymity report (default: age, ZIP and date columns)")
    p.add_argument("--k", type=int, default=5, help="k for the k-anonymity report")
    p.add_argument("--max-shift-days", type=int, default=365, help="largest date shift")
    _key_arg(p)


def _run_pseudonymize(args: argparse.Namespace) -> int:
    from healthnn.privacy.pseudonymize import pseudonymize_file

    report = pseudonymize_file(
        args.input, args.out, key=_key(args, required=True), id_columns=args.id_columns,
        date_columns=args.date_columns, age_columns=args.age_columns,
        zip_columns=args.zip_columns, drop_columns=args.drop_columns,
        quasi_identifiers=args.quasi_identifiers, k=args.k, max_shift_days=args.max_shift_days,
    )
    print(f"wrote {report['rows']} rows to {args.out}; report: {report['report_path']}")
    ka = report["k_anonymity"]
    if ka["columns"]:
        status = "met" if ka["satisfied"] else "NOT met"
        print(f"k-anonymity over {', '.join(ka['columns'])}: smallest group {ka['min_group_size']}"
              f" (k={ka['k']} {status}; {ka['rows_in_small_groups']} rows in groups below k)")
    return 0


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


_ALLOW_MODIFIED = ("load the bundle even if its files differ from its integrity list "
                   "(each difference is printed as a note)")


def _bundle(args: argparse.Namespace):
    """The bundle named on the command line, with --key-file and --allow-modified."""
    from healthnn.bundle import load_bundle

    return load_bundle(args.bundle, key=_key(args),
                       allow_modified=getattr(args, "allow_modified", False))


def _key_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-file", type=Path, default=None,
                   help="secret key file (default: $HEALTHNN_KEY_FILE)")


def _key(args: argparse.Namespace, required: bool = False) -> bytes | None:
    from healthnn.privacy.keys import load_key

    return load_key(args.key_file, required=required)


def _add_mimic_cohort(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mimic-cohort", help="MIMIC-III tables -> ICU-stay events and an "
                       "in-hospital death cohort (for task event_classification)")
    p.add_argument("folder", type=Path, help="folder of the MIMIC-III CSV files (ADMISSIONS, "
                   "ICUSTAYS, PATIENTS, PRESCRIPTIONS, OUTPUTEVENTS, DIAGNOSES_ICD[, D_ITEMS])")
    p.add_argument("--out", type=Path, required=True, help="folder for events.csv and cohort.csv")
    p.add_argument("--top-drugs", type=int, default=20,
                   help="drugs with their own variable (the rest: rx:other)")
    p.add_argument("--top-outputs", type=int, default=20,
                   help="output items with their own variable (the rest: out:other)")
    p.add_argument("--diagnoses-as-events", action="store_true",
                   help="add ICD-9 chapter counts as events at time 0 (coded at discharge: "
                   "they leak in-hospital death)")


def _run_mimic_cohort(args: argparse.Namespace) -> int:
    from healthnn.data.mimic import build_mimic_cohort

    s = build_mimic_cohort(args.folder, args.out, top_drugs=args.top_drugs,
                           top_outputs=args.top_outputs,
                           diagnoses_as_events=args.diagnoses_as_events)
    left = {k: v for k, v in s.items() if k.startswith(("ages_", "output_events_", "stays_",
                                                        "prescriptions_")) and v}
    for k, v in left.items():
        print(f"note: {k.replace('_', ' ')}: {v}", file=sys.stderr)
    print(f"{s['stays']} ICU stays of {s['subjects']} patients, {s['deaths']} in-hospital "
          f"deaths, {s['events']} events of {s['variables']} variables -> {args.out}")
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
    p.add_argument("--ner", type=Path, default=None,
                   help="bundle of a trained NER model (task = \"ner\"): its spans join the rules'")
    p.add_argument("--ner-min-score", type=float, default=None,
                   help="use only NER spans scoring at least this (0 to 1; default: the "
                        "bundle's operating point chosen on validation, else 0: all)")
    p.add_argument("--ner-combine", choices=["union", "ner"], default=None,
                   help="union: rules' spans and the NER's; ner: the NER's alone (a stacked "
                        "bundle, [data] rule_features); default: the bundle's choice, else union")
    p.add_argument("--spacy-model", default=None, metavar="NAME_OR_PATH",
                   help="a spaCy pipeline (installed package or folder, loaded offline): its "
                        "person, place, organisation and date entities join the rules' spans")
    p.add_argument("--config", type=Path, default=None, metavar="SETTINGS",
                   help="a TOML file with a [deid] section (spacy_model, terms, ner, ...); "
                        "options given here override it")


def _run_deid(args: argparse.Namespace) -> int:
    from healthnn.privacy import deidentify_file
    from healthnn.privacy.deid_settings import deid_options  # issue 18: [deid] settings
    from healthnn.privacy.keys import load_key

    # no key: the de-identifier says surrogate mode needs one
    key = load_key(args.key_file, required=False) if args.mode == "surrogate" else None
    options = deid_options(args.config, keep_year=not args.remove_years, terms=args.terms,
                           ner=args.ner, ner_min_score=args.ner_min_score,
                           ner_combine=args.ner_combine, spacy_model=args.spacy_model)
    report = deidentify_file(
        args.input, args.out, text_column=args.text_column, id_column=args.id_column,
        mode=args.mode, key=key, spans_path=args.spans, workers=args.workers, **options,
    )
    for p in report.problems[:20]:
        where = f"row {p.row}" + (f", column '{p.column}'" if p.column else "")
        print(f"healthnn deid: {args.input}: {where}: {p.message}", file=sys.stderr)
    if report.n_problems:
        print(f"healthnn deid: {report.n_problems} row(s) with problems, all written", file=sys.stderr)
    print(f"{report.n_notes} notes, {report.notes_per_s:.0f} notes/s "
          f"({report.n_spans} PHI spans, {report.n_empty} empty) -> {args.out}")
    return 0


def _add_deid_review(sub: argparse._SubParsersAction) -> None:
    from healthnn.privacy.review_cli import add_parser  # issue 18: healthnn deid-review

    add_parser(sub)


def _run_deid_review(args: argparse.Namespace) -> int:
    from healthnn.privacy.review_cli import run

    return run(args)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a bundle's model to ONNX, checked against PyTorch")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="only onnx for now")
    p.add_argument("--out", type=Path, default=None, help="ONNX file (default: BUNDLE/model.onnx)")
    p.add_argument("--data", type=Path, default=None,
                   help="rows to check the export on, e.g. the test set (default: the data "
                   "files named in the bundle's config)")
    p.add_argument("--rows", type=int, default=256, help="how many rows to check (default 256)")
    p.add_argument("--quantize", action="store_true",
                   help="also write a dynamically int8-quantised copy (*.int8.onnx) and report "
                   "how much the metrics change")
    _key_arg(p)


def _run_export(args: argparse.Namespace) -> int:
    from healthnn.export import TOLERANCE, export_onnx

    if args.rows < 1:
        raise HealthnnError("--rows must be at least 1")
    r = export_onnx(args.bundle, args.out, data=args.data, rows=args.rows,
                    quantize=args.quantize, key=_key(args))
    print(f"exported: {r.path} ({r.path.stat().st_size / 1e6 if r.path.exists() else 0:.2f} MB)"
          if r.path.exists() else f"exported: {r.path} (sealed)")
    print(f"checked on {r.checked_on}: max |ONNX - PyTorch| = {r.max_abs_diff:.2g} "
          f"(tolerance {TOLERANCE:g})")
    if r.int8_path is not None:
        print(f"int8: {r.int8_path}; max |int8 - PyTorch| = {r.int8_max_abs_diff:.2g}")
    if r.metrics:
        names = list(r.metrics["torch"])[:6]
        print("metric".ljust(20) + "".join(k.rjust(10) for k in r.metrics))
        for n in names:
            print(n.ljust(20) + "".join(_num(m.get(n)).rjust(10) for m in r.metrics.values()))
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve bundles over a REST API with a web page "
                       "(API keys, audit log)")
    p.add_argument("bundles", type=Path, nargs="+", metavar="DIR",
                   help="bundle directories written by 'healthnn train' (name = folder name)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--runtime", choices=["torch", "onnx"], default="torch",
                   help="predict with PyTorch or with ONNX Runtime (exported models)")
    p.add_argument("--keys", type=Path, default=None, metavar="FILE",
                   help="API key file (default: $HEALTHNN_API_KEYS or "
                   "~/.config/healthnn/api_keys.json)")
    p.add_argument("--audit-db", default=None, metavar="PATH_OR_URL",
                   help="audit log: a SQLite file, or postgresql://user@host:port/db (default: "
                   "$HEALTHNN_AUDIT_DB, which keeps a password out of the process list, else "
                   "healthnn-audit.sqlite)")
    p.add_argument("--max-body-mb", type=float, default=10.0, help="largest request body")
    p.add_argument("--rate-limit", type=int, default=600, metavar="N",
                   help="requests a minute per API key (0: no limit)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds a request's model work may take")
    p.add_argument("--max-unpacked-mb", type=float, default=512.0,
                   help="largest size a compressed upload (gzip, Parquet, deflated DICOM) "
                   "may unpack to")
    p.add_argument("--max-pixels", type=int, default=50_000_000, metavar="N",
                   help="largest image upload (width x height x frames, from its header)")
    p.add_argument("--work-processes", type=int, default=1, metavar="N",
                   help="processes for CPU-heavy work (deid, decoding, explain), killed at "
                   "the timeout (default 1; 0: in threads, not stoppable)")
    p.add_argument("--anon-rate-limit", type=int, default=60, metavar="N",
                   help="requests a minute per client address without a valid key")
    p.add_argument("--deid-ner", type=Path, default=None, metavar="DIR",
                   help="a task = \"ner\" bundle: /deid adds its spans to the rules'")
    p.add_argument("--deid-ner-min-score", type=float, default=None, metavar="T",
                   help="with --deid-ner: use only NER spans scoring at least T (0-1; "
                   "default: the threshold chosen on the NER bundle's validation notes)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="server processes (default 1); they share the port, the audit log "
                   "and the per-key rate limit")
    _key_arg(p)


def _run_serve(args: argparse.Namespace) -> int:
    from healthnn.serve import serve

    if not 0 < args.port < 65536:
        raise HealthnnError(f"--port {args.port} is not a port number (1-65535)")
    if not 1 <= args.workers <= 64:
        raise HealthnnError(f"--workers {args.workers}: give 1 to 64 processes",
                            key="--workers", hint="about one per CPU core")
    if min(args.max_body_mb, args.timeout, args.max_unpacked_mb, args.max_pixels) <= 0 or \
            min(args.rate_limit, args.anon_rate_limit, args.work_processes) < 0:
        raise HealthnnError("--max-body-mb, --max-unpacked-mb, --max-pixels and --timeout must "
                            "be positive; --rate-limit, --anon-rate-limit, --work-processes "
                            ">= 0")
    from healthnn.serve.app import Limits

    import os

    audit_db = args.audit_db or os.environ.get("HEALTHNN_AUDIT_DB") or "healthnn-audit.sqlite"
    if args.deid_ner_min_score is not None and not 0.0 <= args.deid_ner_min_score <= 1.0:
        raise HealthnnError("--deid-ner-min-score must be between 0 and 1",
                            key="--deid-ner-min-score")
    serve(args.bundles, host=args.host, port=args.port, workers=args.workers,
          keys_path=args.keys, deid_ner=args.deid_ner,
          deid_ner_min_score=args.deid_ner_min_score,
          audit_db=audit_db, runtime=args.runtime, key=_key(args),
          limits=Limits(max_body_mb=args.max_body_mb, rate_per_minute=args.rate_limit,
                        timeout_s=args.timeout, max_unpacked_mb=args.max_unpacked_mb,
                        max_pixels=args.max_pixels, work_processes=args.work_processes,
                        anon_rate_per_minute=args.anon_rate_limit))
    return 0


def _add_keys(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, list and revoke API keys for 'healthnn serve'")
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    add = ks.add_parser("add", help="create a key (printed once; only a salted hash is kept)")
    add.add_argument("name", help="who or what uses the key, e.g. ward-7 or lab-system")
    add.add_argument("--scopes", type=_columns, default=["predict"], metavar="A,B",
                     help="what the key may do: predict, explain, deid (default: predict)")
    rev = ks.add_parser("revoke", help="delete a key (takes effect at once, no restart)")
    rev.add_argument("name")
    ks.add_parser("list", help="names, scopes and creation times")
    for q in (add, rev, ks.choices["list"]):
        q.add_argument("--keys", type=Path, default=None, metavar="FILE",
                       help="API key file (default: $HEALTHNN_API_KEYS or "
                       "~/.config/healthnn/api_keys.json)")


def _run_keys(args: argparse.Namespace) -> int:
    from healthnn.serve.keys import KeyStore, default_keys_path

    store = KeyStore(args.keys or default_keys_path())
    if args.keys_command == "add":
        key = store.add(args.name, args.scopes)
        print(key)
        print(f"key '{args.name}' ({', '.join(args.scopes)}) saved to {store.path}; it is "
              "shown only now: send it as 'Authorization: Bearer KEY'", file=sys.stderr)
    elif args.keys_command == "revoke":
        store.revoke(args.name)
        print(f"revoked key '{args.name}'")
    else:
        rows = store.list()
        for r in rows:
            print(f"{r['name']}\t{','.join(r['scopes'])}\t{r['created']}")
        if not rows:
            print(f"no keys in {store.path}", file=sys.stderr)
    return 0


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="hyperparameter search over the config's [tune] section "
                       "(Optuna), then train the best configuration into a bundle")
    p.add_argument("config", type=Path, help="experiment config (TOML) with a [tune] section")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the trials, tune.json, best.toml and the bundle best/")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="number of trials (default: [tune] trials)")
    p.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="trials run in parallel in J processes on this machine (or J Ray tasks)")
    p.add_argument("--ray", dest="ray_address", default=None, metavar="ADDRESS",
                   help="run the trials on a Ray cluster ('auto', 'ray://host:10001', or "
                   "'local' to start one here); DIR must be on a shared file system")
    p.add_argument("--ensemble", type=int, default=None, metavar="K",
                   help="train the best configuration as an ensemble of K seeds")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")


def _run_tune(args: argparse.Namespace) -> int:
    from healthnn.config import load_config
    from healthnn.tuning import tune

    config = load_config(args.config, overrides=args.overrides)
    result = tune(config, args.out, trials=args.trials, jobs=args.jobs, ray_address=args.ray_address,
                  ensemble=args.ensemble)
    best = result["best"]
    print(f"{len(result['trials'])} trials ({result['pruned']} pruned); best: trial "
          f"{best['number']}, validation {result['metric']} {_num(best['value'])}")
    if "nested_cv" in result:
        pooled = result["nested_cv"]["pooled"]
        m = pooled.get(result["metric"]) or next(iter(pooled.values()))
        name = result["metric"] if result["metric"] in pooled else next(iter(pooled))
        print(f"nested cross-validation (pooled outer folds): {name} {_num(m['value'])} "
              f"[{_num(m['ci_low'])}, {_num(m['ci_high'])}]")
    print(f"best config: {args.out / 'best.toml'}")
    _print_summary(args.out / "best", {"test": result["final"]["test"]})
    return 0


def _print_cv(out: Path, cv: dict) -> None:
    names = list(cv["pooled"])[:4]
    for k, fold in enumerate(cv["per_fold"], start=1):
        print(f"fold {k}: " + ", ".join(f"{n} {_num(fold[n]['value'])}" for n in names if n in fold))
    print(f"pooled ({cv['rows']} rows, {cv['folds']} folds): " + ", ".join(
        f"{n} {_num(cv['pooled'][n]['value'])} [{_num(cv['pooled'][n]['ci_low'])}, "
        f"{_num(cv['pooled'][n]['ci_high'])}]" for n in names))
    for name, b in cv.get("baselines", {}).items():  # issue 20: mean over the folds
        shown = [n for n in names if n in b["difference"]]
        print(f"baseline {name}: " + ", ".join(
            f"{n} {_num(b['baseline'][n]['mean'])} (network - baseline "
            f"{b['difference'][n]['mean']:+.3f} +/- {b['difference'][n]['sd']:.3f})"
            for n in shown) + f"; better than the network in {b['folds_baseline_better']} "
            f"of {cv['folds']} folds")
    print(f"cross-validation: {out / 'cv.json'}; one bundle per fold in {out}/fold_<k>")


def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="self-supervised pretraining on unlabelled images "
                       "(SimCLR) or notes (masked tokens); 'train' starts from it with "
                       "[model] init = DIR")
    p.add_argument("config", type=Path, help="image or text config (TOML): [data] train holds "
                   "the unlabelled images or notes, [model] names the network")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for encoder.safetensors (and tokenizer.json for text)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=None,
                   help="images or notes per batch (default: [train] batch_size)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--temperature", type=float, default=0.5,
                   help="NT-Xent temperature (images)")
    p.add_argument("--projection", type=int, default=64, help="projection head width (images)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")


def _run_pretrain(args: argparse.Namespace) -> int:
    from healthnn.config import load_config
    from healthnn.pretraining import pretrain

    config = load_config(args.config, overrides=args.overrides)
    pretrain(config, args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
             temperature=args.temperature, projection=args.projection)
    print(f"encoder: {args.out / 'encoder.safetensors'}  (use: [model] init = \"{args.out}\")")
    return 0


def _add_index(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build a BM25 search index over notes or abstracts")
    p.add_argument("docs", type=Path, help="CSV, Parquet, JSONL/JSON, a .txt file or a folder "
                   "of .txt files")
    p.add_argument("--out", type=Path, required=True, help="index directory to write")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--id-column", default=None,
                   help="column with document ids (default: 'id' if present, else row numbers)")
    p.add_argument("--bundle", type=Path, default=None,
                   help="a text_classification bundle: also store its document embeddings and "
                   "fuse them with BM25 at search time")
    p.add_argument("--k1", type=float, default=1.5, help="BM25 term-frequency saturation")
    p.add_argument("--b", type=float, default=0.75, help="BM25 length normalisation (0..1)")
    _key_arg(p)


def _run_index(args: argparse.Namespace) -> int:
    from healthnn.text.search import build_index

    info = build_index(args.docs, args.out, text_column=args.text_column,
                       id_column=args.id_column, bundle=args.bundle, k1=args.k1, b=args.b,
                       key=_key(args) if args.bundle else None)
    for note in info["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if info["empty"]:
        print(f"note: {info['empty']} empty document(s) indexed; they never match",
              file=sys.stderr)
    extra = " with model embeddings" if info["embeddings"] else ""
    print(f"indexed {info['documents']} documents ({info['terms']} terms){extra} -> {args.out}")
    return 0


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search an index built by 'healthnn index'")
    p.add_argument("index", type=Path, help="index directory")
    p.add_argument("query", help="search words")
    p.add_argument("--k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--bm25-only", action="store_true",
                   help="ignore stored model embeddings; rank by BM25 alone")
    p.add_argument("--out", type=Path, default=None, help="also write the results (.csv/.parquet)")
    _key_arg(p)


def _run_search(args: argparse.Namespace) -> int:
    from healthnn.text.search import search_index

    if args.k < 1:
        raise HealthnnError("--k must be at least 1")
    if not args.query.strip():
        raise HealthnnError("the query is empty", hint='e.g. healthnn search INDEX "chest pain"')
    results = search_index(args.index, args.query, k=args.k,
                           use_embeddings=not args.bm25_only, key=_key(args))
    if args.out is not None:
        from healthnn.data.tables import write_table

        write_table(results, args.out)
    for r in results.itertuples():
        print(f"{r.rank:>3}  {r.score:8.4f}  {r.id}  {r.snippet[:100]}")
    if results.empty:
        print("no documents")
    return 0


def _add_summarize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summarize", help="extractive summaries (ranked sentences with offsets)")
    p.add_argument("input", type=Path, help="CSV, Parquet, JSONL/JSON, a .txt file or a folder "
                   "of .txt files")
    p.add_argument("--out", type=Path, required=True,
                   help=".jsonl (sentences with offsets) or .csv/.parquet (rows + summary)")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--id-column", default=None, help="column with document ids")
    p.add_argument("--sentences", type=int, default=3, help="sentences per summary (default 3)")
    p.add_argument("--ratio", type=float, default=None,
                   help="instead of --sentences: this fraction of each document's sentences")


def _run_summarize(args: argparse.Namespace) -> int:
    from healthnn.text.summarize import summarize_file

    if args.sentences < 1:
        raise HealthnnError("--sentences must be at least 1")
    if args.ratio is not None and not 0 < args.ratio <= 1:
        raise HealthnnError("--ratio must be in (0, 1]")
    info = summarize_file(args.input, args.out, text_column=args.text_column,
                          id_column=args.id_column, n_sentences=args.sentences, ratio=args.ratio)
    for note in info["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if info["empty"]:
        print(f"{info['empty']} empty document(s): empty summary and an 'error'", file=sys.stderr)
    print(f"summarised {info['documents']} documents -> {args.out}")
    return 0


def _add_init(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a commented starter config for a task (columns "
                       "detected from --data)")
    p.add_argument("task", help="classification, regression, survival, image_classification, "
                   "text_classification, molecule_property, event_classification or ner")
    p.add_argument("--data", type=Path, default=None,
                   help="training table (CSV, TSV, Parquet, JSONL) whose columns fill [data]")
    p.add_argument("--target", default=None, help="the outcome column (default: guessed)")
    p.add_argument("--out", type=Path, default=Path("healthnn.toml"),
                   help="config file to write (default: healthnn.toml; '-' prints it)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")


def _run_init(args: argparse.Namespace) -> int:
    from healthnn.starter import starter_config

    folder = Path.cwd() if str(args.out) == "-" else args.out.resolve().parent
    text = starter_config(args.task, args.data, target=args.target, relative_to=folder)
    if str(args.out) == "-":
        print(text, end="")
        return 0
    if args.out.exists() and not args.force:
        raise HealthnnError(f"{args.out} exists", hint="choose another --out, or add --force")
    from healthnn.io import write_text

    write_text(args.out, text)  # whole or not at all
    for line in text.splitlines():
        if line.startswith("# guessed "):
            print(line[2:], file=sys.stderr)
    print(f"wrote {args.out}; check it, then: healthnn train {args.out} --out bundle/")
    return 0


def _add_monitor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="drift and out-of-domain report of new data against a "
                       "bundle's training reference (PSI, KS, out-of-domain share, performance)")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("data", type=Path, help="new rows (labels optional)")
    p.add_argument("--out", type=Path, required=True, help="directory for report.html and "
                   "monitor.json")
    _key_arg(p)


def _run_monitor(args: argparse.Namespace) -> int:
    from healthnn.monitor import monitor

    r = monitor(args.bundle, args.data, args.out, key=_key(args))
    o = r["out_of_domain"]
    print(f"out of domain: {o['rows']} of {r['rows'] - r['rows_unusable']} rows "
          f"({o['share']:.1%}, 95% CI {o['ci'][0]:.1%} to {o['ci'][1]:.1%}; "
          f"expected {o['expected']:.0%})")
    shifted = [f for f in r["features"] if f["shift"]]
    print(f"features shifted (PSI > 0.1): {len(shifted)} of {len(r['features'])}"
          + (": " + ", ".join(f"{f['feature']} {f['psi']:.2f}" for f in shifted[:5])
             if shifted else ""))
    if r["rows_unusable"]:
        print(f"{r['rows_unusable']} row(s) could not be encoded", file=sys.stderr)
    print(f"report: {args.out / 'report.html'}")
    return 0


def _add_recalibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recalibrate", help="recalibrate a bundle on a site's own labelled data "
                       "into a new bundle (calibration before and after on held-out rows)")
    p.add_argument("bundle", type=Path, help="bundle directory written by 'healthnn train'")
    p.add_argument("data", type=Path, help="the site's labelled data")
    p.add_argument("--out", type=Path, required=True, help="directory of the new bundle")
    p.add_argument("--method", default=None,
                   choices=["intercept", "logistic", "isotonic", "baseline"],
                   help="classification: intercept (binary; the default), logistic or isotonic; "
                   "Cox survival: baseline (the baseline hazard re-estimated)")
    p.add_argument("--holdout", type=float, default=0.3, metavar="F",
                   help="fraction of the local rows kept out of the fit, for the before/after "
                   "report (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    _key_arg(p)


def _run_recalibrate(args: argparse.Namespace) -> int:
    from healthnn.recalibrate import recalibrate

    if args.out.exists() and any(args.out.iterdir()):
        raise HealthnnError(f"{args.out} exists and is not empty", hint="choose a new --out")
    rec = recalibrate(args.bundle, args.data, args.out, method=args.method,
                      holdout=args.holdout, seed=args.seed, key=_key(args))
    last = rec["history"][-1]
    print(f"recalibrated ({last['method']}) on {last['rows_fit']} local rows; "
          f"{last['rows_held_out']} held out:")
    for name in ("calibration_intercept", "calibration_slope", "ece", "brier", "auroc",
                 "c_index", "ibs"):
        b, a = rec["before"].get(name), rec["after"].get(name)
        if b and a:
            print(f"  {name:<22} before {_num(b['value'])} [{_num(b['ci_low'])}, "
                  f"{_num(b['ci_high'])}]  after {_num(a['value'])} [{_num(a['ci_low'])}, "
                  f"{_num(a['ci_high'])}]")
    print(f"bundle: {args.out}  (report: {args.out / 'recalibration' / 'report.html'})")
    return 0


COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "init": (_add_init, _run_init),
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "recalibrate": (_add_recalibrate, _run_recalibrate),
    "monitor": (_add_monitor, _run_monitor),
    "predict": (_add_predict, _run_predict),
    "explain": (_add_explain, _run_explain),
    "keygen": (_add_keygen, _run_keygen),
    "encrypt": (_add_encrypt, _run_encrypt),
    "decrypt": (_add_encrypt, _run_encrypt),
    "pseudonymize": (_add_pseudonymize, _run_pseudonymize),
    "mimic-cohort": (_add_mimic_cohort, _run_mimic_cohort),
    "report": (_add_report, _run_report),
    "demo": (_add_demo, _run_demo),
    "deid": (_add_deid, _run_deid),
    "deid-review": (_add_deid_review, _run_deid_review),
    "export": (_add_export, _run_export),
    "federate": (_add_federate, _run_federate),
    "serve": (_add_serve, _run_serve),
    "keys": (_add_keys, _run_keys),
    "audit": (add_audit, run_audit),
    "tune": (_add_tune, _run_tune),
    "pretrain": (_add_pretrain, _run_pretrain),
    "index": (_add_index, _run_index),
    "search": (_add_search, _run_search),
    "summarize": (_add_summarize, _run_summarize),
}


def _print_summary(path: Path, metrics: dict) -> None:
    from healthnn.metrics.estimable import format_metric

    split = "test" if "test" in metrics else next(iter(metrics), None)
    if split is not None:
        parts = []
        for name, m in list(metrics[split].items())[:6]:
            parts.append(f"{name} {format_metric(m)}")  # or why it is not estimable
        print(f"{split}: " + ", ".join(parts))
        cov = metrics[split].get("conformal_coverage")
        size = metrics[split].get("conformal_set_size") or metrics[split].get("conformal_width")
        if cov and size:  # issue 10: split-conformal sets / intervals
            what = "sets" if "conformal_set_size" in metrics[split] else "intervals"
            try:  # the level; an encrypted bundle keeps it sealed
                import json

                alpha = json.loads((Path(path) / "conformal.json").read_text())["alpha"]
                target = f"; target {1 - alpha:g}"
            except (OSError, ValueError, KeyError, TypeError):
                target = ""
            print(f"uncertainty: conformal {what} held the outcome for {_num(cov['value'])} "
                  f"[{_num(cov['ci_low'])}, {_num(cov['ci_high'])}] of {split} rows (mean "
                  f"{'size' if what == 'sets' else 'width'} {_num(size['value'])}{target})")
    from healthnn.baselines.compare import comparison_lines

    for line in comparison_lines(metrics):  # issue 20: each baseline beside the network
        print(line)
    print(f"bundle: {path}  (metrics: {Path(path) / 'metrics.json'})")
    if (Path(path) / "report.html").is_file():
        print(f"report: {Path(path) / 'report.html'}")


def _num(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"


def _set_threads(n: int) -> None:
    if n < 1:
        raise HealthnnError(f"--threads must be at least 1, not {n}")
    import torch

    torch.set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)  # worker processes started from here (tune, serve)


# commands that run PyTorch in this process (the others start no threads, or set their own)
_THREADED = {"train", "evaluate", "predict", "explain", "demo", "pretrain", "export", "federate"}


def _default_threads() -> Callable[[], None]:
    import torch

    from healthnn.training.threads import free_cores

    n, before = free_cores(), torch.get_num_threads()
    if n >= before:
        return lambda: None
    torch.set_num_threads(n)  # silent: an error must stay one line; --threads N to choose
    return lambda: torch.set_num_threads(before)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthnn",
        description="Train, evaluate, explain and serve neural networks on clinical data.",
    )
    parser.add_argument("--version", action="version", version=f"healthnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for PyTorch (default: one per core that is not busy: "
                             "the cores minus the load average)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, _ in dict.fromkeys(COMMANDS.values()):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _, run = COMMANDS[args.command]
    try:
        if args.threads is not None:
            _set_threads(args.threads)
        elif "OMP_NUM_THREADS" not in os.environ and args.command in _THREADED:
            restore = _default_threads()
            try:
                return run(args)
            finally:  # a caller in this process (a notebook, a test) keeps its own setting
                restore()
        return run(args)
    except HealthnnError as exc:
        if args.debug:
            raise
        print(f"healthnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"healthnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk met outside healthnn.io's writers: still one line
        import errno

        if args.debug or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        from healthnn.io import output_error

        print(f"healthnn {args.command}: error: {output_error(exc, exc.filename or '?')}",
              file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
