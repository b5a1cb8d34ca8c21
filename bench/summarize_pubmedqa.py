"""Extractive summaries on PubMedQA abstracts, scored by ROUGE against each abstract's
conclusions (issue 19 item 14), beside the lead-3 baseline.

Data: ori_pqal.json (the 1000 expert-labelled PQA-L items) from ``--data`` or
$HEALTHNN_PUBMEDQA (default /work/shared/data/text/pubmedqa). Each item's abstract without its
conclusions is ``CONTEXTS`` (one paragraph per section, joined by line breaks, as an abstract
is laid out); the reference is ``LONG_ANSWER``, the abstract's own conclusions.

Systems (3 sentences each, all split by ``healthnn.text.summarize.split_sentences``):

* ``healthnn summarize``: TextRank with the position prior and administrative sentences
  down-weighted (the defaults; nothing is tuned, so every item is a test item);
* the same without the administrative down-weighting (``ADMIN_WEIGHT = 1``);
* lead-3: the first three sentences, the strongest simple baseline for news and abstracts;
* last-3: the last three sentences (abstracts end with results, next to the conclusions).

Scores: ROUGE-1, ROUGE-2 and ROUGE-L F1 from Google's ``rouge-score`` (Porter stemming), mean
over items with 95% percentile bootstrap intervals (2000 resamples of items) and the paired
difference against lead-3. No published ROUGE exists for this setting (PubMedQA is a QA data
set), so none is printed.

    python bench/summarize_pubmedqa.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, markdown_table, versions, write_json  # noqa: E402

DEFAULT = Path(os.environ.get("HEALTHNN_PUBMEDQA", "/work/shared/data/text/pubmedqa"))
METRICS = ("rouge1", "rouge2", "rougeL")


def load(folder: Path) -> list[tuple[str, str]]:
    data = json.loads((folder / "ori_pqal.json").read_text())
    return [("\n".join(v["CONTEXTS"]), v["LONG_ANSWER"]) for _, v in sorted(data.items())]


def systems():
    import healthnn.text.summarize as sm

    def textrank(text, admin=True):
        old = sm.ADMIN_WEIGHT
        sm.ADMIN_WEIGHT = old if admin else 1.0
        try:
            return " ".join(s.text for s in sm.summarize(text, n_sentences=3))
        finally:
            sm.ADMIN_WEIGHT = old

    return {
        "healthnn summarize (TextRank, admin down-weighted)": textrank,
        "healthnn TextRank without admin down-weighting": lambda t: textrank(t, admin=False),
        "lead-3": lambda t: " ".join(s.text for s in sm.split_sentences(t)[:3]),
        "last-3": lambda t: " ".join(s.text for s in sm.split_sentences(t)[-3:]),
    }


def ci(values: np.ndarray, rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    idx = rng.integers(0, len(values), size=(n, len(values)))
    means = values[idx].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    from rouge_score import rouge_scorer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--quick", action="store_true", help="the first 100 items only")
    args = ap.parse_args()
    items = load(args.data)[: 100 if args.quick else None]
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    scores, seconds = {}, {}
    for name, fn in systems().items():
        t0 = time.perf_counter()
        outs = [fn(text) for text, _ in items]
        seconds[name] = time.perf_counter() - t0
        scores[name] = {m: np.array([scorer.score(ref, out)[m].fmeasure
                                     for out, (_, ref) in zip(outs, items, strict=True)])
                        for m in METRICS}
    rng = np.random.default_rng(0)
    lead = scores["lead-3"]
    rows, payload = [], {}
    for name, sc in scores.items():
        entry = {}
        cells = [name]
        for m in METRICS:
            lo, hi = ci(sc[m], rng)
            d = sc[m] - lead[m]
            dlo, dhi = ci(d, rng)
            entry[m] = {"mean": float(sc[m].mean()), "ci": [lo, hi],
                        "minus_lead3": float(d.mean()), "minus_lead3_ci": [dlo, dhi]}
            cells.append(f"{sc[m].mean():.4f} [{lo:.4f}, {hi:.4f}]")
        r1 = entry["rouge1"]
        cells.append("" if name == "lead-3" else f"{r1['minus_lead3']:+.4f} "
                     f"[{r1['minus_lead3_ci'][0]:+.4f}, {r1['minus_lead3_ci'][1]:+.4f}]")
        cells.append(f"{seconds[name]:.1f}")
        rows.append(cells)
        payload[name] = {**entry, "seconds": seconds[name]}
    table = markdown_table(["system", "ROUGE-1 F1", "ROUGE-2 F1", "ROUGE-L F1",
                            "ROUGE-1 minus lead-3", "seconds"], rows)
    print(f"PubMedQA PQA-L, {len(items)} abstracts, 3 sentences, reference: the conclusions")
    print(table)
    path = write_json("summarize_pubmedqa", {
        "items": len(items), "results": payload, "command": command_line(),
        "machine": machine(), "versions": versions("numpy", "scikit-learn", "rouge-score")})
    print(f"written {path}")


if __name__ == "__main__":
    main()
