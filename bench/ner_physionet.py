"""Can a site with annotated notes reach recall >= 0.99 at precision >= 0.90? Cross-validated
NER on the PhysioNet deid gold standard, alone and united with the rules.

    python bench/ner_physionet.py [--data DIR] [--folds 2] [--epochs 12] [--quick] [--reuse]

K-fold cross-validation over *patients* (all notes of a patient in one fold): for each fold the
NER (task 'ner', bilstm_charcnn) is trained on the other folds' notes (10% of their patients
held out for early stopping) and the held-out fold is de-identified three ways: the rules alone
(``Deidentifier()``), the NER alone, and rules ∪ NER (``Deidentifier(ner=...)``: overlapping
spans merged). Scoring is bench/deid_physionet.py's token-level scoring (a token is a run of
letters or of digits; a gold token is recalled when any predicted span covers it, whatever the
label; a predicted token is correct when it lies in a gold span), pooled over the folds, so
every note is scored once by models that never saw its patient. The NER is also run with its
'O' logit lowered by ``--o-bias`` (a recall-first operating point).

``--crf`` adds a CRF layer (``[model] crf``). ``--rule-features`` trains the stacked model (``[data] rule_features``: the rules' span tags
and an unknown-word flag are inputs of the NER); its rows then read "NER" for the stacked NER.
Every run also reports the operating point chosen on each fold's *inner validation* notes (the
10% of training patients used for early stopping; never the held-out fold): the combination
(rules ∪ NER or NER alone) and the lowest NER span score with the highest validation token
recall at validation token precision >= ``--target-precision`` (fixed at 0.90, the issue's
goal, before any run), applied unchanged to the held-out fold (``chosen`` rows).

The gold standard is GPL-2.0 data: it is read from a path; the span file and the models built
from it stay under bench/out/ner_physionet/ (git-ignored) and are never copied into the project.
Writes bench/out/ner_physionet.json. Prints no note text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from deid_physionet import PUBLISHED, load, token_sets  # noqa: E402
from healthnn.privacy.deid import Deidentifier, union_spans  # noqa: E402
from healthnn.tasks.ner import NerTagger, _operating_table, choose_operating_point  # noqa: E402

GOAL = (0.99, 0.90)


def score(notes: dict, gold: dict, keys: list, pred: dict) -> dict:
    """Token recall (all gold types and without DateYear), precision, per-type recall."""
    g_tot, g_hit, p_tot, p_hit = Counter(), Counter(), Counter(), Counter()
    for k in keys:
        g = token_sets(notes[k], gold.get(k, []))
        p = token_sets(notes[k], [(s, e, lab) for s, e, lab, *_ in pred[k]])
        for tok, lab in g.items():
            g_tot[lab] += 1
            g_hit[lab] += tok in p
        for tok, lab in p.items():
            p_tot[lab] += 1
            p_hit[lab] += tok in g
    all_g, all_h = sum(g_tot.values()), sum(g_hit.values())
    ny_g, ny_h = all_g - g_tot["DateYear"], all_h - g_hit["DateYear"]
    return {
        "recall": round(all_h / all_g, 4), "recall_without_years": round(ny_h / ny_g, 4),
        "precision": round(sum(p_hit.values()) / max(sum(p_tot.values()), 1), 4),
        "gold_tokens": all_g, "predicted_tokens": sum(p_tot.values()),
        "recall_by_gold_type": {t: [g_hit[t], g_tot[t], round(g_hit[t] / g_tot[t], 4)]
                                for t in sorted(g_tot)},
    }


def folds_by_patient(keys: list, k: int, seed: int) -> list[list[int]]:
    patients = sorted({p for p, _ in keys})
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    fold_of = {p: i % k for i, p in enumerate(patients)}
    return [[i for i, key in enumerate(keys) if fold_of[key[0]] == f] for f in range(k)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("HEALTHNN_DEID_GOLD") or str(ROOT.parent / "shared/data/text/physionet_deid_gold")
    ap.add_argument("--data", type=Path, default=Path(default))
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--o-weight", type=float, default=0.2, help="loss weight of the 'O' tag")
    ap.add_argument("--empty-windows", type=float, default=0.3,
                    help="fraction of PHI-free training windows drawn each epoch")
    ap.add_argument("--o-bias", type=float, default=1.0,
                    help="recall-first operating point: subtract this from the 'O' logit")
    ap.add_argument("--quick", action="store_true", help="2 folds, 2 epochs (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-score", type=float, nargs="*", default=[0.8, 0.95],
                    help="also unite the rules with only the NER spans scoring at least this")
    ap.add_argument("--reuse", action="store_true",
                    help="evaluate the fold models already in bench/out/ner_physionet (made by "
                         "a run with the same --folds and --patients) instead of training")
    ap.add_argument("--name", default="ner_physionet",
                    help="bench/out/NAME/ (fold models) and bench/out/NAME.json")
    ap.add_argument("--patients", type=int, default=0, help="use only the first N patients "
                    "(a smoke run; 0 = all)")
    ap.add_argument("--rule-features", action="store_true",
                    help="the stacked model: the rules' spans as input features of the NER")
    ap.add_argument("--crf", action="store_true", help="a CRF layer on the tagger ([model] crf)")
    ap.add_argument("--target-precision", type=float, default=0.90,
                    help="validation token precision the chosen operating point must reach")
    a = ap.parse_args(argv)
    if not (a.data / "id.text").exists():
        print(f"gold standard not found in {a.data} (set --data or HEALTHNN_DEID_GOLD)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(a.threads)
    folds_n, epochs = (2, 2) if a.quick else (a.folds, a.epochs)
    notes, gold = load(a.data)
    keys = sorted(notes)
    if a.patients:
        keep = sorted({p for p, _ in keys})[:a.patients]
        keys = [k for k in keys if k[0] in keep]
    work = ROOT / "bench" / "out" / a.name
    work.mkdir(parents=True, exist_ok=True)
    spans_file = work / "notes.jsonl"  # GPL-derived: stays in bench/out
    with open(spans_file, "w", encoding="utf-8") as fh:
        for p, n in keys:
            fh.write(json.dumps({"id": f"{p}-{n}", "patient": str(p), "text": notes[(p, n)],
                                 "spans": [{"start": s, "end": e, "label": lab}
                                           for s, e, lab in gold.get((p, n), [])]}) + "\n")
    folds = folds_by_patient(keys, folds_n, seed=0)
    rules = Deidentifier()
    pred = {"rules": {}, "ner": {}, "union": {}, "ner_biased": {}, "union_biased": {}}
    pred.update({f"union_min{t:g}": {} for t in a.min_score})
    pred.update({"ner_only_chosen_grid": {}, "chosen": {}, "chosen_union": {}})
    chosen_points = []
    plan = {"folds": folds_n, "patients": a.patients,
            "test": [[f"{keys[i][0]}-{keys[i][1]}" for i in fold] for fold in folds]}
    if a.reuse:
        saved = json.loads((work / "folds.json").read_text()) if (work / "folds.json").is_file() else None
        if saved != plan:
            print("--reuse: the saved fold models were made with other folds; train them first",
                  file=sys.stderr)
            return 2
    else:
        (work / "folds.json").write_text(json.dumps(plan))
    timing = Counter()
    started = time.perf_counter()
    for f, test_idx in enumerate(folds):
        rest = [i for i in range(len(keys)) if i not in set(test_idx)]
        rest_patients = sorted({keys[i][0] for i in rest})
        rng = np.random.default_rng(f)
        val_patients = set(rng.choice(rest_patients, max(1, len(rest_patients) // 10), replace=False).tolist())
        val = [i for i in rest if keys[i][0] in val_patients]
        train = [i for i in rest if keys[i][0] not in val_patients]
        config = {
            "task": "ner",
            "data": {"train": str(spans_file), "group": "patient", "max_length": 128,
                     "overlap": 32, "empty_windows": a.empty_windows, "o_weight": a.o_weight,
                     "rule_features": a.rule_features,
                     "target_precision": a.target_precision},
            "model": {"name": "bilstm_charcnn", **({"crf": True} if a.crf else {})},
            "train": {"epochs": epochs, "batch_size": 32, "lr": 0.005, "patience": 4,
                      "monitor": "token_f1", "seed": 42, "progress": False},
            "eval": {"bootstrap": 50},
            "report": {"enabled": False},
        }
        t0 = time.perf_counter()
        if not a.reuse:
            from healthnn.config import load_config
            from healthnn.pipeline import run_at, training_rows

            cfg = load_config(config)
            run_at(cfg, training_rows(cfg)[1], {"train": np.array(train), "val": np.array(val),
                                               "test": np.array(test_idx)}, work / f"fold_{f}")
        timing["train_seconds"] += time.perf_counter() - t0
        test_keys = [keys[i] for i in test_idx]
        texts = [notes[k] for k in test_keys]
        t0 = time.perf_counter()
        for k in test_keys:
            pred["rules"][k] = [(s.start, s.end, s.label, s.score) for s in rules.find(notes[k])]
        timing["rules_seconds"] += time.perf_counter() - t0
        tagger = NerTagger(work / f"fold_{f}", deid=True)
        t0 = time.perf_counter()
        found = [tagger.find(t) for t in texts]  # one note at a time, as deid runs it
        timing["ner_seconds"] += time.perf_counter() - t0
        biased = NerTagger(work / f"fold_{f}", deid=True, o_bias=a.o_bias).find_many(texts)
        # the operating point, chosen on this fold's inner validation notes only
        val_keys = [keys[i] for i in val]
        val_texts = [notes[k] for k in val_keys]
        table = _operating_table(
            val_texts, [gold.get(k, []) for k in val_keys],
            [[(s.start, s.end, s.label) for s in rules.find(t)] for t in val_texts],
            tagger.find_many(val_texts))
        op = choose_operating_point(table, a.target_precision)
        op_ner = choose_operating_point(table[table["combine"] == "ner"], a.target_precision)
        op_union = choose_operating_point(table[table["combine"] != "ner"], a.target_precision)
        chosen_points.append({"fold": f, "chosen": op, "ner_only": op_ner, "union": op_union,
                              "bundle": tagger.operating_point})
        print(f"fold {f + 1}: chosen on {len(val_keys)} validation notes: {op['combine']}, NER "
              f"score >= {op['min_score']:.2f} (validation precision {op['precision']}, recall "
              f"{op['recall']}); NER alone: >= {op_ner['min_score']:.2f}", flush=True)
        for k, ner, nb in zip(test_keys, found, biased, strict=True):
            pred["ner"][k], pred["ner_biased"][k] = ner, nb
            pred["union"][k] = union_spans(pred["rules"][k] + ner)
            pred["union_biased"][k] = union_spans(pred["rules"][k] + nb)
            for t in a.min_score:
                pred[f"union_min{t:g}"][k] = union_spans(
                    pred["rules"][k] + [sp for sp in ner if sp[3] >= t])
            kept = [sp for sp in ner if sp[3] >= op["min_score"]]
            pred["chosen"][k] = (union_spans(pred["rules"][k] + kept) if op["combine"] == "union"
                                 else kept)
            pred["ner_only_chosen_grid"][k] = [sp for sp in ner if sp[3] >= op_ner["min_score"]]
            pred["chosen_union"][k] = union_spans(
                pred["rules"][k] + [sp for sp in ner if sp[3] >= op_union["min_score"]])
        timing["notes"] += len(test_keys)
        print(f"fold {f + 1}/{folds_n}: {len(train)} train, {len(val)} val, {len(test_keys)} "
              f"test notes; {time.perf_counter() - started:.0f} s so far", flush=True)

    results = {name: score(notes, gold, keys, p) for name, p in pred.items()}
    n = timing["notes"]
    result = {
        "folds": folds_n, "epochs": epochs, "reused_models": a.reuse, "min_score": a.min_score, "o_bias": a.o_bias, "empty_windows": a.empty_windows, "notes": n,
        "patients": len({p for p, _ in keys}), "threads": a.threads,
        "train_seconds": round(timing["train_seconds"], 1),
        "rules_notes_per_s": round(n / timing["rules_seconds"], 1),
        "ner_notes_per_s": round(n / timing["ner_seconds"], 1),
        "systems": results, "goal": {"recall": GOAL[0], "precision": GOAL[1]},
        "rule_features": a.rule_features, "crf": a.crf, "target_precision": a.target_precision,
        "operating_points": chosen_points,
    }
    (ROOT / "bench" / "out" / f"{a.name}.json").write_text(json.dumps(result, indent=2))
    names = {"rules": "rules alone", "ner": "NER alone", "union": "rules ∪ NER",
             "ner_biased": f"NER alone, O logit -{a.o_bias:g}",
             "union_biased": f"rules ∪ NER, O logit -{a.o_bias:g}",
             **{f"union_min{t:g}": f"rules ∪ NER spans scoring ≥ {t:g}" for t in a.min_score},
             "ner_only_chosen_grid": "NER alone, score threshold chosen on validation",
             "chosen": "operating point chosen on validation (combination and threshold)",
             "chosen_union": "rules ∪ NER, threshold chosen on validation (target_combine = union)"}
    print(f"\nPhysioNet deid gold, {folds_n}-fold cross-validation by patient ({n} notes, "
          f"{result['patients']} patients), NER {epochs} epochs max"
          f"{' (stacked: rule features)' if a.rule_features else ''}{' with a CRF' if a.crf else ''}; token level, pooled over folds\n")
    for c in chosen_points:
        o = c["chosen"]
        print(f"fold {c['fold'] + 1} operating point (inner validation): {o['combine']}, score >= "
              f"{o['min_score']:.2f}, validation precision {o['precision']} recall {o['recall']}"
              f"{'' if o['met'] else ' (target not reached)'}")
    print()
    print("| system | recall | recall without DateYear | precision | goal met (≥ 0.99 / ≥ 0.90) |")
    print("|---|---|---|---|---|")
    for key, label in names.items():
        r = results[key]
        met = "yes" if r["recall"] >= GOAL[0] and r["precision"] >= GOAL[1] else "no"
        print(f"| {label} | {r['recall']:.3f} | {r['recall_without_years']:.3f} | "
              f"{r['precision']:.3f} | {met} |")
    for name, (r, p) in PUBLISHED.items():
        print(f"| {name} (published, instance level) | {r:.3f} | | {p:.3f} | |")
    types = sorted(results["rules"]["recall_by_gold_type"])
    print("\n| gold type | tokens | " + " | ".join(names[k] for k in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for t in types:
        cells = [f"{results[k]['recall_by_gold_type'][t][2]:.3f}" for k in names]
        print(f"| {t} | {results['rules']['recall_by_gold_type'][t][1]} | " + " | ".join(cells) + " |")
    print(f"\nspeed on the held-out notes (one process, {a.threads} thread(s), one note at a time): "
          f"rules {result['rules_notes_per_s']:.0f} notes/s, NER {result['ner_notes_per_s']:.0f} "
          f"notes/s (NER / rules = {result['ner_notes_per_s'] / result['rules_notes_per_s']:.2f}); "
          + (f"training {result['train_seconds']:.0f} s for {folds_n} folds" if not a.reuse
             else "fold models reused from an earlier run (--reuse)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
