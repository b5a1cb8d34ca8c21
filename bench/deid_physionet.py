"""Benchmark ``healthnn deid`` on the PhysioNet deid 1.1 gold standard (token-level).

The gold standard is GPL-2.0 data: it is read from a path and never copied into the project::

    python bench/deid_physionet.py [--data DIR] [--years] [--site-list] [--presidio /tmp/presidio-venv/bin/python]
    python bench/deid_physionet.py --passes 3 [--src OTHER/src]   # speed: fastest of 3 passes

``--data`` defaults to $HEALTHNN_DEID_GOLD, then ../shared/data/text/physionet_deid_gold. A token is
a maximal run of letters or of digits. A gold token is recalled when any predicted span covers
it (whatever label); a predicted token is correct when it lies in any gold span. By default the
engine keeps bare years (HIPAA Safe Harbor allows them) while the gold marks them (DateYear):
the report shows recall with and without them, and ``--years`` removes years too.

The notes are split deterministically by patient (every note of a patient on one side) into a
development half, on which the rules may be inspected and tuned (``--errors N`` prints its
misses, to the terminal only), and a held-out half that is never inspected; recall and precision
are printed for dev, held-out and all. ``--site-list`` adds a held-out row with a site list
(``terms``) built only from the dev half's gold HCP and location names, as a hospital would build
a staff roster and a list of its places.
Prints tables and writes bench/out/deid_physionet.json. No note text is printed (except --errors).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--src" in sys.argv[:-1]:  # time another copy of the engine (e.g. an older commit's src/)
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--src") + 1]).resolve()))
else:
    sys.path.insert(0, str(ROOT / "src"))

from healthnn.privacy.deid import Deidentifier  # noqa: E402

PUBLISHED = {"deid.pl v1.1 (Neamatullah et al. 2008)": (0.967, 0.748)}
TOKEN = re.compile(r"[A-Za-z]+|\d+")
RECORD = re.compile(r"START_OF_RECORD=(\d+)\|\|\|\|(\d+)\|\|\|\|\n(.*?)\|\|\|\|END_OF_RECORD", re.S)


def load(data: Path):
    text = (data / "id.text").read_text(encoding="utf-8", errors="replace")
    notes = {(int(m.group(1)), int(m.group(2))): m.group(3) for m in RECORD.finditer(text)}
    gold: dict[tuple[int, int], list[tuple[int, int, str]]] = defaultdict(list)
    for line in (data / "id-phi.phrase").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(None, 5)
        if len(parts) >= 5:
            gold[(int(parts[0]), int(parts[1]))].append((int(parts[2]), int(parts[3]), parts[4]))
    return notes, gold


def token_sets(text, spans):
    out = {}
    for m in TOKEN.finditer(text):
        for s, e, lab in spans:
            if m.start() < e and m.end() > s:
                out[(m.start(), m.end())] = lab
                break
    return out


def split_of(patient: int) -> str:
    """Development or held-out half, by patient (all notes of a patient on one side)."""
    return "dev" if hashlib.sha256(f"healthnn-deid-split:{patient}".encode()).digest()[0] % 2 == 0 else "heldout"


def ratio(a_, b_):
    return a_ / b_ if b_ else float("nan")


def score(notes, gold, pred, keys, errors: list | None = None) -> dict:
    """Token and instance recall/precision of ``pred`` on the notes ``keys``."""
    g_tot = Counter(); g_hit = Counter(); p_tot = Counter(); p_hit = Counter()
    for k in keys:
        text = notes[k]
        g = token_sets(text, gold.get(k, []))
        p = token_sets(text, [(s.start, s.end, s.label) for s in pred[k]])
        for tok, lab in g.items():
            g_tot[lab] += 1
            if tok in p:
                g_hit[lab] += 1
            elif errors is not None:
                errors.append(("MISSED", k, tok, lab))
        for tok, lab in p.items():
            p_tot[lab] += 1
            if tok in g:
                p_hit[lab] += 1
            elif errors is not None:
                errors.append(("FALSE", k, tok, lab))

    # instance level, as deid.pl counts: a gold PHI is found when a predicted span overlaps it
    # (and, stricter, when every one of its tokens is covered); a predicted span is correct
    # when it overlaps a gold PHI
    inst = Counter()
    for k in keys:
        text = notes[k]
        ps = [(s.start, s.end) for s in pred[k]]
        gs = gold.get(k, [])
        for gstart, gend, lab in gs:
            hit = any(s < gend and e > gstart for s, e in ps)
            toks = [(m.start() + gstart, m.end() + gstart) for m in TOKEN.finditer(text[gstart:gend])]
            full = all(any(s <= a and e >= b for s, e in ps) for a, b in toks)
            inst["gold"] += 1
            inst["gold_noyear"] += lab != "DateYear"
            inst["hit"] += hit
            inst["hit_noyear"] += hit and lab != "DateYear"
            inst["full"] += full
        for s, e in ps:
            inst["pred"] += 1
            inst["pred_ok"] += any(s < gend and e > gstart for gstart, gend, _ in gs)

    all_g, all_h = sum(g_tot.values()), sum(g_hit.values())
    noyr_g = all_g - g_tot["DateYear"]; noyr_h = all_h - g_hit["DateYear"]
    return {
        "notes": len(keys), "patients": len({k[0] for k in keys}),
        "recall": round(ratio(all_h, all_g), 4), "recall_without_years": round(ratio(noyr_h, noyr_g), 4),
        "precision": round(ratio(sum(p_hit.values()), sum(p_tot.values())), 4),
        "instance_recall": round(ratio(inst["hit"], inst["gold"]), 4),
        "instance_recall_without_years": round(ratio(inst["hit_noyear"], inst["gold_noyear"]), 4),
        "instance_recall_all_tokens": round(ratio(inst["full"], inst["gold"]), 4),
        "instance_precision": round(ratio(inst["pred_ok"], inst["pred"]), 4),
        "gold_instances": inst["gold"],
        "gold_tokens": all_g, "predicted_tokens": sum(p_tot.values()),
        "recall_by_gold_type": {t: [g_hit[t], g_tot[t], round(ratio(g_hit[t], g_tot[t]), 4)] for t in sorted(g_tot)},
        "precision_by_label": {t: [p_hit[t], p_tot[t], round(ratio(p_hit[t], p_tot[t]), 4)] for t in sorted(p_tot)},
    }


def site_terms(notes, gold, keys) -> dict[str, list[str]]:
    """A site list as a hospital would build one: its staff and place names, here taken from the
    gold HCPName and Location annotations of the development half only (kept in memory). Like a
    careful site, it lists full names and places, plus single surnames and place words that are
    not English or clinical words ("Foley", "White" and "General" would tag every catheter,
    colour and hospital)."""
    from healthnn.privacy._deid_lexicon import CLINICAL_KEEP, CLINICAL_WORDS, lexicon

    lex = lexicon()
    terms: dict[str, set[str]] = {"NAME": set(), "HOSPITAL": set()}
    for k in keys:
        for s, e, lab in gold.get(k, []):
            if lab not in ("HCPName", "Location"):
                continue
            label = "NAME" if lab == "HCPName" else "HOSPITAL"
            phrase = " ".join(notes[k][s:e].split())
            words = re.findall(r"[A-Za-z]+", phrase)
            if len(words) > 1:
                terms[label].add(phrase)
            for w in words:
                lw = w.lower()
                if len(lw) > 2 and lw not in lex.common and lw not in CLINICAL_KEEP and lw not in CLINICAL_WORDS:
                    terms[label].add(w)
    return {lab: sorted(v) for lab, v in terms.items()}


def _print_by_part(result: dict, key: str, title: str, first: str) -> None:
    """One Markdown table of ``key`` (type -> [hits, total, rate]) for dev, held-out and all."""
    print(f"\n{title}:")
    print(f"| {first} | dev | held-out | all |")
    print("|---|---|---|---|")
    for t in result["all"][key]:
        cells = []
        for name in ("dev", "heldout", "all"):
            h, n, r = result[name][key].get(t, [0, 0, float("nan")])
            cells.append(f"{r:.3f} ({h}/{n})")
        print(f"| {t} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("HEALTHNN_DEID_GOLD") or str(ROOT.parent / "shared/data/text/physionet_deid_gold")
    ap.add_argument("--data", type=Path, default=Path(default))
    ap.add_argument("--years", action="store_true", help="also remove bare years")
    ap.add_argument("--presidio", help="python of a venv with presidio-analyzer, for a speed ratio")
    ap.add_argument("--src", help="healthnn source folder to import instead of this checkout's src/ (speed comparisons)")
    ap.add_argument("--passes", type=int, default=1, help="time N passes over the notes and report the fastest")
    ap.add_argument("--site-list", action="store_true",
                    help="also score the held-out half with a site list built from the dev half's gold HCP/location names")
    ap.add_argument("--errors", type=int, default=0,
                    help="print N missed/false tokens of the DEVELOPMENT half (local debugging only: prints note text)")
    a = ap.parse_args(argv)
    if not (a.data / "id.text").exists():
        print(f"gold standard not found in {a.data} (set --data or HEALTHNN_DEID_GOLD)", file=sys.stderr)
        return 2
    notes, gold = load(a.data)
    engine = Deidentifier(keep_year=not a.years)
    keys = sorted(notes)
    secs = cpu = float("inf")
    for _ in range(max(1, a.passes)):
        t0, c0 = time.perf_counter(), time.process_time()
        pred = {k: engine.find(notes[k]) for k in keys}
        secs, cpu = min(secs, time.perf_counter() - t0), min(cpu, time.process_time() - c0)

    halves = {"dev": [k for k in keys if split_of(k[0]) == "dev"],
              "heldout": [k for k in keys if split_of(k[0]) == "heldout"],
              "all": keys}
    errors: list = []
    result = {
        "notes": len(keys), "seconds": round(secs, 2), "notes_per_s": round(len(keys) / secs, 1),
        "cpu_seconds": round(cpu, 2), "notes_per_cpu_s": round(len(keys) / cpu, 1),
        "keep_year": not a.years,
        "split": "by patient: sha256('healthnn-deid-split:<patient>')[0] even -> dev, odd -> heldout",
    }
    for name, ks in halves.items():
        result[name] = score(notes, gold, pred, ks, errors if name == "dev" else None)
    if a.site_list:
        terms = site_terms(notes, gold, halves["dev"])
        site = Deidentifier(keep_year=not a.years, terms=terms)
        pred_site = {k: site.find(notes[k]) for k in halves["heldout"]}
        result["heldout_with_site_list"] = score(notes, gold, pred_site, halves["heldout"])
        result["heldout_with_site_list"]["site_list_entries"] = {lab: len(v) for lab, v in terms.items()}

    print(f"PhysioNet deid gold: {len(keys)} notes, {result['all']['gold_tokens']} gold PHI tokens, one process: "
          f"{secs:.1f} s wall ({len(keys)/secs:.0f} notes/s), {cpu:.1f} s CPU ({len(keys)/cpu:.0f} notes per CPU-second)")
    print("| half | patients | notes | gold tokens | token recall | (without DateYear) | token precision "
          "| instance recall | instance precision |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("dev", "development (rules tuned on it)"), ("heldout", "held-out (never inspected)"), ("all", "all")]
    if a.site_list:
        rows.append(("heldout_with_site_list", "held-out + site list from dev gold HCP/location names"))
    for name, title in rows:
        r = result[name]
        print(f"| {title} | {r['patients']} | {r['notes']} | {r['gold_tokens']} | {r['recall']:.3f} "
              f"| {r['recall_without_years']:.3f} | {r['precision']:.3f} | {r['instance_recall']:.3f} "
              f"| {r['instance_precision']:.3f} |")
    for name, (r, p_) in PUBLISHED.items():
        print(f"| {name}, published | | 2434 | | | | | {r:.3f} | {p_:.3f} |")
    _print_by_part(result, "recall_by_gold_type", "recall by gold type (hit/total)", "gold type")
    _print_by_part(result, "precision_by_label",
                   "precision by predicted label (correct/predicted tokens)", "label")

    if a.presidio:
        result["presidio"] = presidio_ratio(a.presidio, notes, keys, secs, cpu)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "deid_physionet.json").write_text(json.dumps(result, indent=2))
    if a.errors:
        for kind in ("MISSED", "FALSE"):
            for (label, k, (s, e), lab) in [x for x in errors if x[0] == kind][: a.errors]:
                t = notes[k]
                print(label, lab, k, repr(t[max(0, s - 40):s]), "<<", t[s:e], ">>", repr(t[e:e + 25]))
    return 0


def presidio_ratio(python: str, notes, keys, our_secs, our_cpu):
    # both sides are timed as wall-clock time of one process on the same notes, in one run
    """Time Presidio's pattern recognizers on the same notes in a separate interpreter."""
    import subprocess
    import tempfile

    script = r'''
import json, sys, time
import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine


class BlankEnglish(SpacyNlpEngine):
    """spaCy's blank English pipeline: tokenizer only, nothing downloaded."""

    def load(self):
        self.nlp = {"en": spacy.blank("en")}


nlp = BlankEnglish(models=[{"lang_code": "en", "model_name": "blank_en"}])
nlp.load()
reg = RecognizerRegistry()
reg.load_predefined_recognizers(nlp_engine=nlp)
for name in ("SpacyRecognizer",):
    try:
        reg.remove_recognizer(name)
    except Exception:
        pass
engine = AnalyzerEngine(registry=reg, nlp_engine=nlp, supported_languages=["en"])
texts = json.load(open(sys.argv[1]))
engine.analyze(text=texts[0], language="en")
t0, c0 = time.perf_counter(), time.process_time()
for t in texts:
    engine.analyze(text=t, language="en")
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                  "recognizers": sorted(r.name for r in reg.recognizers)}))
'''
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "notes.json"
        p.write_text(json.dumps([notes[k] for k in keys]))
        s = Path(d) / "presidio_time.py"
        s.write_text(script)
        env = dict(os.environ, TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
        r = subprocess.run([python, str(s), str(p)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            print("presidio failed:", r.stderr[-2000:], file=sys.stderr)
            return None
        res = json.loads(r.stdout.strip().splitlines()[-1])
    pres, pcpu = res["seconds"], res["cpu_seconds"]
    print(f"Presidio {len(res['recognizers'])} pattern recognizers (blank spaCy): {pres:.1f} s wall, {pcpu:.1f} s CPU; "
          f"healthnn is {pres / our_secs:.1f}x faster (wall), {pcpu / our_cpu:.1f}x (CPU)")
    return {"seconds": round(pres, 2), "cpu_seconds": round(pcpu, 2), "speedup_wall": round(pres / our_secs, 2),
            "speedup_cpu": round(pcpu / our_cpu, 2), "recognizers": res["recognizers"]}


if __name__ == "__main__":
    sys.exit(main())
