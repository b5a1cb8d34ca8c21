"""Run the benchmarks (all, or the ones named) and print their tables.

    python bench/run.py                      # survival, speed, classification, privacy, ...
    python bench/run.py survival             # one of them
    python bench/run.py survival --quick     # options after the names go to each script

Each script writes machine-readable results to bench/out/<name>.json (git-ignored) and prints a
Markdown table; BENCHMARKS.md records the tables with the command that produced each. Not part of
``make test``: these train many models and take minutes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = {
    "survival": "survival_deepsurv",
    "speed": "speed_pycox",
    "ehr": "ehr_physionet2012",
    "ehr_external": "ehr_external_b",  # issue 21: train on set A, score set B
    "classification": "classification_cv",
    "privacy": "privacy_dp",
    "privacy_images": "privacy_dp_images",
    "deid": "deid_physionet",
    "images": "images_pneumoniamnist",
    "export": "export_onnx",
    "federated": "federated_pima",
    "serve": "serve_load",
    "serve_fuzz": "serve_fuzz",
    "serve_soak": "serve_soak",  # issue 23: extended fuzz with memory, soak with a killed worker
    "conformal": "conformal",  # issue 10
    "transfer": "transfer_pneumoniamnist",  # issue 9
    "tune": "tune_table",  # issue 9
    "text": "text_medical_abstracts",
    "pubmedqa": "text_pubmedqa",
    "molecules": "molecules_moleculenet",  # issue 4 (add --chemprop for the same-run comparison)
    "molecules_throughput": "molecules_throughput",  # issue 4
    "ner_meddocan": "ner_meddocan",  # issue 3: trainable NER
    "ner_physionet": "ner_physionet",  # issue 3: NER cross-validated, with and without rules
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 0
    names = []
    while argv and not argv[0].startswith("-"):
        name = argv.pop(0)
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; one of: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        names.append(name)
    names = names or list(BENCHMARKS)
    options = argv
    for name in names:
        module = __import__(BENCHMARKS[name])
        print(f"\n## {name} ({BENCHMARKS[name]}.py)\n", flush=True)
        started = time.perf_counter()
        module.main(_supported(module, options))
        print(f"\n({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    return 0


def _supported(module, options: list[str]) -> list[str]:
    """Pass on only the options this script accepts (e.g. --seeds goes to survival only)."""
    parser_opts = set()
    source = Path(module.__file__).read_text()
    for opt in ("--quick", "--seeds", "--threads", "--epochs", "--folds", "--rounds"):
        if f'"{opt}"' in source:
            parser_opts.add(opt)
    out, i = [], 0
    while i < len(options):
        opt = options[i]
        takes_value = i + 1 < len(options) and not options[i + 1].startswith("-")
        if opt in parser_opts:
            out.append(opt)
            if takes_value and opt != "--quick":
                out.append(options[i + 1])
        if takes_value and opt != "--quick":
            i += 1
        i += 1
    return out


if __name__ == "__main__":
    sys.exit(main())
