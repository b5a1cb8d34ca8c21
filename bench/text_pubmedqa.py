"""PubMedQA PQA-L: yes/no/maybe accuracy on the official 500-question test set, and retrieval of
each question's own abstract (recall@1, recall@10) with BM25 and BM25 fused with model embeddings.

Data: ori_pqal.json (1000 expert-labelled items) and test_ground_truth.json (the 500 test PMIDs)
from ``--data`` or $HEALTHNN_PUBMEDQA (default /work/shared/data/text/pubmedqa).

Classification: the 500 non-test items train a healthnn ``text_classification`` model (the
question, then the abstract's contexts; 15% of them held out for early stopping) with the
settings of bench/configs/text_medical_abstracts.toml; nothing pretrained, the tokenizer is
learned from these 500 texts. Scored on the 500 test items beside the TF-IDF + logistic
regression baseline of the same run and the published majority (55.2%) and BioBERT (68.1%,
reasoning-required setting, Jin et al. 2019) accuracies. Intervals: 95% stratified bootstrap.

Retrieval: all 1000 abstracts (contexts joined) are indexed; each of the 500 test questions
searches them; a hit is its own abstract. BM25 alone (``healthnn.text.search``, k1 1.5, b 0.75)
and BM25 fused by reciprocal rank with the trained model's pooled embeddings.

    python bench/text_pubmedqa.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CONFIGS, command_line, load_toml, machine, markdown_table, quiet_log, set_threads,
    versions, write_json,
)

DEFAULT = Path(os.environ.get("HEALTHNN_PUBMEDQA", "/work/shared/data/text/pubmedqa"))
PUBLISHED = {"majority": 0.552, "BioBERT": 0.681, "human (single annotator)": 0.780}


def load(folder: Path) -> tuple[pd.DataFrame, set[str]]:
    data = json.loads((folder / "ori_pqal.json").read_text())
    test = set(json.loads((folder / "test_ground_truth.json").read_text()))
    rows = []
    for pmid, v in data.items():
        abstract = " ".join(v["CONTEXTS"])
        rows.append({"id": pmid, "question": v["QUESTION"], "abstract": abstract,
                     "text": v["QUESTION"] + " [SEP] " + abstract, "label": v["final_decision"]})
    return pd.DataFrame(rows), test


def main(argv=None) -> dict:
    import healthnn
    from healthnn.text.search import BM25Index

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 epochs, max_length 128")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", type=Path, default=DEFAULT)
    args = p.parse_args(argv)
    set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    df, test_ids = load(args.data)
    is_test = df["id"].isin(test_ids).to_numpy()
    cfg = load_toml(CONFIGS / "text_medical_abstracts.toml")
    cfg["eval"]["bootstrap"] = 1000
    cfg["data"]["max_length"] = 256  # question + abstract
    if args.quick:
        cfg["train"]["epochs"] = 2
        cfg["data"]["max_length"] = 128
    results: dict = {"benchmark": "text_pubmedqa", "command": command_line(),
                     "quick": args.quick, "threads": args.threads, "config": cfg,
                     "machine": machine(),
                     "versions": versions("healthnn", "torch", "tokenizers", "scikit-learn"),
                     "train_rows": int((~is_test).sum()), "test_rows": int(is_test.sum())}
    with tempfile.TemporaryDirectory(prefix="bench-pqa-") as tmp:
        tmp = Path(tmp)
        df[~is_test][["id", "text", "label"]].to_csv(tmp / "train.csv", index=False)
        df[is_test][["id", "text", "label"]].to_csv(tmp / "test.csv", index=False)
        c = {**cfg, "data": {**cfg["data"], "train": str(tmp / "train.csv"),
                             "test": str(tmp / "test.csv"), "id": "id"}}
        started = time.perf_counter()
        bundle = healthnn.train(c, tmp / "b", log=quiet_log)
        results["train_seconds"] = time.perf_counter() - started
        results["epochs_run"] = bundle.manifest["training"]["epochs_run"]
        results["classification"] = {"healthnn": bundle.metrics["test"],
                                     "tfidf_logreg": bundle.metrics["test_baseline_tfidf"]}
        counts = df[is_test]["label"].value_counts()
        results["test_majority_share"] = float(counts.max() / counts.sum())

        # retrieval: question -> its own abstract among all 1000
        index = BM25Index.build(df["abstract"].tolist(), df["id"].tolist())
        queries = df[is_test]
        emb_docs = bundle.task.embed_texts(bundle.model, df["abstract"].tolist())
        emb_q = bundle.task.embed_texts(bundle.model, queries["question"].tolist())
        for arr in (emb_docs, emb_q):
            arr /= np.maximum(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12)
        t0 = time.perf_counter()
        ranks_bm25 = [_rank(index.search(q, k=10), pid)
                      for q, pid in zip(queries["question"], queries["id"], strict=True)]
        search_s = time.perf_counter() - t0
        index.embeddings = emb_docs
        ranks_fused = [_rank(index.search(q, k=10, query_embedding=e), pid)
                       for q, e, pid in zip(queries["question"], emb_q, queries["id"],
                                            strict=True)]
        results["retrieval"] = {
            "documents": len(df), "queries": len(queries),
            "bm25": _recall(ranks_bm25), "bm25+embeddings": _recall(ranks_fused),
            "bm25_queries_per_s": len(queries) / search_s,
        }
    path = write_json("text_pubmedqa" + ("_quick" if args.quick else ""), results)
    print(report(results))
    print(f"\nresults: {path}")
    return results


def _rank(hits, pid: str) -> int | None:
    for i, h in enumerate(hits, 1):
        if h.id == pid:
            return i
    return None


def _recall(ranks: list[int | None]) -> dict:
    from healthnn.metrics import bootstrap

    r = np.array([0 if x is None else x for x in ranks], dtype=float)
    return bootstrap(lambda a: {"recall@1": float(((a >= 1) & (a <= 1)).mean()),
                                "recall@10": float(((a >= 1) & (a <= 10)).mean())},
                     [r], n_resamples=1000, seed=0)


def _ci(m: dict) -> str:
    return "{value:.3f} [{ci_low:.3f}–{ci_high:.3f}]".format(**m)


def report(r: dict) -> str:
    c = r["classification"]
    model = r["config"]["model"]["name"]
    rows = [[f"healthnn {model} (no pretraining)", _ci(c["healthnn"]["accuracy"]),
             _ci(c["healthnn"]["f1_macro"])],
            ["TF-IDF + logistic regression (same run)", _ci(c["tfidf_logreg"]["accuracy"]),
             _ci(c["tfidf_logreg"]["f1_macro"])]]
    rows += [[f"published: {k}", f"{v:.3f}", ""] for k, v in PUBLISHED.items()]
    cls = markdown_table(["PubMedQA PQA-L test (500)", "accuracy [95% CI]", "macro-F1 [95% CI]"],
                         rows)
    ret = r["retrieval"]
    rrows = [[name, _ci(ret[name]["recall@1"]), _ci(ret[name]["recall@10"])]
             for name in ("bm25", "bm25+embeddings")]
    retr = markdown_table([f"retrieval: question -> own abstract ({ret['documents']} abstracts, "
                           f"{ret['queries']} questions)", "recall@1 [95% CI]",
                           "recall@10 [95% CI]"], rrows)
    return (f"{cls}\n\n(test majority class share: {r['test_majority_share']:.3f}; "
            f"{r['epochs_run']} epochs, {r['train_seconds']:.0f} s)\n\n{retr}\n\n"
            f"BM25 search: {ret['bm25_queries_per_s']:.0f} queries/s")


if __name__ == "__main__":
    main()
