"""``healthnn deid-review sample|score``: the command line of :mod:`healthnn.privacy.review`.

Prints counts, settings and scores only: never note text, file names of notes or leaked values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deid-review", help="check de-identification on a sample of your own "
                       "notes: draw a review sample, then score the reviewer's annotations")
    steps = p.add_subparsers(
        dest="step", metavar="STEP", required=True,
        help="sample NOTES --out REVIEW [--n 200] [--strata-column T] [--id-column C] "
             "[--config F]: draw a review folder; score REVIEW ANNOTATIONS [--resamples 1000] "
             "[--worst 50]: score the reviewer's annotations ('healthnn deid-review STEP "
             "--help' lists every option)")
    s = steps.add_parser("sample", help="draw a stratified sample and write a review folder")
    s.add_argument("notes", type=Path, help="CSV, TSV, Parquet, JSONL, JSON or a folder of .txt")
    s.add_argument("--out", type=Path, required=True,
                   help="new review folder (created 0700: it will hold PHI)")
    s.add_argument("--n", type=int, default=200, help="sample size (default 200)")
    s.add_argument("--column", default="text", help="column holding the notes (default: text)")
    s.add_argument("--strata-column", default=None, metavar="T",
                   help="note-type column to stratify by (default: quartiles of note length)")
    s.add_argument("--id-column", default=None,
                   help="the notes' id column: kept in REVIEW/detections.jsonl to find each "
                        "note (never in file names or on the page)")
    s.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    s.add_argument("--terms", type=Path, default=None,
                   help="local dictionary, as for 'healthnn deid --terms'")
    s.add_argument("--remove-years", action="store_true", help="also remove bare years")
    s.add_argument("--ner", type=Path, default=None,
                   help="bundle of a trained NER model, as for 'healthnn deid --ner'")
    s.add_argument("--spacy-model", default=None, metavar="NAME_OR_PATH",
                   help="a spaCy pipeline (installed package name or folder) whose PERSON, "
                        "place, organisation and date entities join the rules' spans")
    s.add_argument("--config", type=Path, default=None, metavar="SETTINGS",
                   help="the [deid] settings file the site de-identifies with (as for "
                        "'healthnn deid --config'); options given here override it")
    c = steps.add_parser("score", help="score the de-identifier against the completed "
                         "annotations")
    c.add_argument("review", type=Path, help="the folder written by 'deid-review sample'")
    c.add_argument("annotations", type=Path,
                   help="completed span JSONL (REVIEW/annotations.jsonl) or BRAT folder")
    c.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap resamples for the intervals (default 1000)")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    c.add_argument("--worst", type=int, default=50,
                   help="how many of the worst leaks to list in REVIEW/worst_leaks.html")


def run(args: argparse.Namespace) -> int:
    return _sample(args) if args.step == "sample" else _score(args)


def _sample(args: argparse.Namespace) -> int:
    from healthnn.privacy.deid_settings import deid_options
    from healthnn.privacy.review import sample_for_review

    options = deid_options(args.config, keep_year=not args.remove_years, terms=args.terms,
                           ner=args.ner, spacy_model=args.spacy_model)
    if args.config is not None:
        options["settings_file"] = args.config.resolve()
    m = sample_for_review(args.notes, args.out, n=args.n, column=args.column,
                          strata_column=args.strata_column, id_column=args.id_column,
                          seed=args.seed,
                          deid_options=options)
    for note in m["read_problems"]:
        print(f"note: {note}", file=sys.stderr)
    if m["n_empty_not_sampled"]:
        print(f"note: {m['n_empty_not_sampled']} empty note(s) were not sampled", file=sys.stderr)
    print(f"sampled {m['n_sampled']} of {sum(m['population'].values())} notes "
          f"(stratified by {m['stratified_by']}, {len(m['population'])} strata, seed "
          f"{m['seed']}): {m['n_detections']} detections, {m['words']} words")
    print(f"review page: {args.out / 'review.html'}")
    print(f"annotate:    {args.out / 'annotations.jsonl'} (or {args.out / 'brat'}/), then run "
          f"'healthnn deid-review score {args.out} {args.out / 'annotations.jsonl'}'")
    return 0


def _fmt(m: dict, digits: int = 3) -> str:
    from healthnn.metrics.estimable import format_metric

    if m.get("note") and m.get("ci_low") == m.get("ci_low"):  # an exact interval, with a note
        v, lo, hi = m["value"], m["ci_low"], m["ci_high"]
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}] ({m['note']})"
    return format_metric(m, digits)


def _score(args: argparse.Namespace) -> int:
    from healthnn.errors import HealthnnError
    from healthnn.privacy.review_score import score_review

    if args.resamples < 0 or args.worst < 0:
        raise HealthnnError("--resamples and --worst must be 0 or more")
    r = score_review(args.review, args.annotations, n_resamples=args.resamples,
                     seed=args.seed, worst=args.worst)
    for note in r["annotation_notes"]:
        print(f"note: {note}", file=sys.stderr)
    if r["unchanged"]:
        print("warning: the annotations are exactly the detections (prefilled and not "
              "corrected?): the scores below say nothing until every note has been reviewed",
              file=sys.stderr)
    m = r["metrics"]
    print(f"{r['notes']} notes, {r['words']} words, {r['reviewer_spans']} reviewer PHI spans, "
          f"{r['detections']} detections, {r['leaked_spans']} leaked")
    for name in ("token_recall", "token_precision", "span_recall", "span_precision",
                 "span_removed", "leaks_per_100k_words"):
        print(f"{name:<22} {_fmt(m[name], 1 if name.startswith('leaks') else 3)}")
    print("leaks per 100,000 words by type (95% interval):")
    for lab, c in r["by_type"].items():
        print(f"  {lab:<14} {_fmt(m[f'leaks_per_100k_words_{lab}'], 1)}  "
              f"({c['leaked']} of {c['reviewer_spans']} spans leaked)")
    print(f"scores: {r['files']['score']}")
    print(f"worst leaks (for the reviewer only): {r['files']['worst_leaks']}")
    return 0
