"""BM25 retrieval over notes or abstracts, optionally fused with a trained model's embeddings.

An index is a folder (nothing pickled)::

    INDEX/
      index.json        parameters, document count, source fingerprint, vocabulary
      bm25.npz          BM25 term weights, a sparse documents x terms matrix (CSC arrays)
      documents.jsonl   id and text of every document (search results show them)
      embeddings.npy    optional: L2-normalised document embeddings from a text bundle

Scores are Okapi BM25 (Robertson et al.), ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``::

    score(q, d) = sum over query terms t of idf(t) * tf(t,d) * (k1 + 1)
                                              / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))

With embeddings, the BM25 and cosine rankings are combined by reciprocal rank fusion
(``1/(60 + rank)`` summed), which needs no score calibration.

>>> idx = BM25Index.build(["chest pain on exertion", "renal failure", "chest x-ray clear"])
>>> [hit.position for hit in idx.search("chest pain", k=2)]
[0, 2]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from healthnn.errors import DataError

__all__ = ["BM25Index", "Hit", "tokenize", "build_index", "load_index", "STOPWORDS"]

INDEX_FORMAT = 1
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset("""a an and are as at be been but by for from had has have he her his i in
into is it its of on or our she that the their them there these they this to was we were which
who will with within without you your not no than then so such also may can do does did""".split())
_RRF_K = 60


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words (``"Chest-pain"`` is one token)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


@dataclass(frozen=True)
class Hit:
    position: int     # 0-based document position in the index
    id: str
    score: float
    bm25: float
    cosine: float | None = None


class BM25Index:
    """Okapi BM25 over a fixed set of documents."""

    def __init__(self, vocabulary: dict[str, int], weights: sparse.csc_matrix, ids: list[str],
                 *, k1: float, b: float, texts: list[str] | None = None,
                 embeddings: np.ndarray | None = None) -> None:
        self.vocabulary = vocabulary
        self.weights = weights
        self.ids = ids
        self.k1, self.b = k1, b
        self.texts = texts
        self.embeddings = embeddings

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[str] | None = None, *, k1: float = 1.5,
              b: float = 0.75) -> BM25Index:
        if k1 < 0 or not 0 <= b <= 1:
            raise DataError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        texts = list(texts)
        ids = [str(i + 1) for i in range(len(texts))] if ids is None else [str(i) for i in ids]
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.zeros(len(texts))
        from tqdm.auto import tqdm

        for d, text in enumerate(tqdm(texts, desc="index", unit="doc",
                                      disable=len(texts) < 5000)):
            toks = tokenize(text)
            lengths[d] = len(toks)
            counts: dict[int, int] = {}
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            rows += [d] * len(counts)
            cols += list(counts)
            vals += list(counts.values())
        n = len(texts)
        tf = sparse.csr_matrix((np.asarray(vals, float), (rows, cols)), shape=(n, len(vocab)))
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(vocab))
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avgdl = lengths.mean() if n and lengths.mean() > 0 else 1.0
        norm = k1 * (1 - b + b * lengths / avgdl)          # per document
        tf = tf.tocoo()
        w = idf[tf.col] * tf.data * (k1 + 1) / (tf.data + norm[tf.row])
        weights = sparse.csc_matrix((w, (tf.row, tf.col)), shape=tf.shape)
        return cls(vocab, weights, ids, k1=k1, b=b, texts=texts)

    def __len__(self) -> int:
        return len(self.ids)

    def bm25_scores(self, query: str) -> np.ndarray:
        cols = [self.vocabulary[t] for t in tokenize(query) if t in self.vocabulary]
        if not cols:
            return np.zeros(len(self))
        # a repeated query term counts once per repetition, as in the formula's sum
        return np.asarray(self.weights[:, cols].sum(1)).ravel()

    def search(self, query: str, k: int = 10, *, query_embedding: np.ndarray | None = None
               ) -> list[Hit]:
        """The ``k`` best documents for ``query`` (ties: earlier documents first)."""
        if k < 1:
            raise DataError("k must be at least 1")
        bm = self.bm25_scores(query)
        k = min(k, len(self))
        if query_embedding is None or self.embeddings is None:
            order = np.lexsort((np.arange(len(bm)), -bm))[:k]
            return [Hit(int(i), self.ids[i], float(bm[i]), float(bm[i])) for i in order]
        q = np.asarray(query_embedding, dtype=np.float32).ravel()
        q = q / (np.linalg.norm(q) or 1.0)
        cos = self.embeddings @ q
        fused = _rrf(bm) + _rrf(cos)
        order = np.lexsort((np.arange(len(fused)), -fused))[:k]
        return [Hit(int(i), self.ids[i], float(fused[i]), float(bm[i]), float(cos[i]))
                for i in order]

    # -- persistence -----------------------------------------------------------------------------
    def save(self, folder: str | Path, *, source: dict | None = None,
             embedding_bundle: str | None = None) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        w = self.weights.tocsc()
        from healthnn.io import atomic_write, write_text

        with atomic_write(folder / "bm25.npz", "wb") as fh:
            np.savez(fh, data=w.data, indices=w.indices, indptr=w.indptr,
                     shape=np.asarray(w.shape))
        meta = {"format": INDEX_FORMAT, "kind": "bm25", "k1": self.k1, "b": self.b,
                "documents": len(self), "source": source or {},
                "embedding_bundle": embedding_bundle, "vocabulary": self.vocabulary}
        with atomic_write(folder / "documents.jsonl") as fh:
            for i, doc_id in enumerate(self.ids):
                text = self.texts[i] if self.texts is not None else ""
                fh.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
        if self.embeddings is not None:
            with atomic_write(folder / "embeddings.npy", "wb") as fh:
                np.save(fh, self.embeddings.astype(np.float32))
        write_text(folder / "index.json", json.dumps(meta))  # last: the index is complete
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> tuple[BM25Index, dict]:
        folder = Path(folder)
        meta_path = folder / "index.json"
        if not meta_path.is_file():
            raise DataError("not a search index (index.json is missing)", file=str(folder),
                            hint="build one with 'healthnn index DOCS --out INDEX'")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(folder / "bm25.npz", allow_pickle=False) as z:
                weights = sparse.csc_matrix((z["data"], z["indices"], z["indptr"]),
                                            shape=tuple(z["shape"]))
            ids, texts = [], []
            with open(folder / "documents.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    ids.append(rec["id"])
                    texts.append(rec["text"])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read the index ({type(exc).__name__}: {exc})",
                            file=str(folder), hint="build it again with 'healthnn index'") from None
        if meta.get("format") != INDEX_FORMAT:
            raise DataError(f"index format {meta.get('format')} is not supported",
                            file=str(folder), hint="build it again with 'healthnn index'")
        emb = None
        if (folder / "embeddings.npy").is_file():
            emb = np.load(folder / "embeddings.npy", allow_pickle=False)
        return cls(meta["vocabulary"], weights, ids, k1=meta["k1"], b=meta["b"], texts=texts,
                   embeddings=emb), meta


def _rrf(scores: np.ndarray) -> np.ndarray:
    order = np.lexsort((np.arange(len(scores)), -scores))
    rank = np.empty(len(scores))
    rank[order] = np.arange(1, len(scores) + 1)
    return 1.0 / (_RRF_K + rank)


# -- file-level API used by the CLI ----------------------------------------------------------------
def build_index(docs: str | Path, out: str | Path, *, text_column: str = "text",
                id_column: str | None = None, bundle: str | Path | None = None,
                k1: float = 1.5, b: float = 0.75, key: bytes | None = None) -> dict:
    """Index the documents in ``docs`` into the folder ``out``; returns a summary.

    Empty documents are indexed (they never match) and counted. With ``bundle`` (a trained
    ``text_classification`` bundle) each document's model embedding is stored too, and
    searches fuse both rankings.
    """
    from healthnn.data.tables import fingerprint, require_columns
    from healthnn.text.io import read_documents, text_values

    docs = Path(docs)
    df, notes = read_documents(docs, text_column=text_column)
    require_columns(df, [text_column], docs)
    texts = text_values(df[text_column])
    if id_column is not None:
        require_columns(df, [id_column], docs)
        ids = [str(v) for v in df[id_column].tolist()]
    elif "id" in df.columns:
        ids = [str(v) for v in df["id"].tolist()]
    else:
        ids = [str(i + 1) for i in range(len(df))]
    index = BM25Index.build(texts, ids, k1=k1, b=b)
    if bundle is not None:
        index.embeddings = document_embeddings(bundle, texts, key=key)
    out = Path(out)
    index.save(out, source={"path": str(docs.resolve()), "sha256": fingerprint(docs),
                            "text_column": text_column},
               embedding_bundle=None if bundle is None else str(Path(bundle).resolve()))
    empty = sum(1 for t in texts if not t.strip())
    return {"documents": len(texts), "terms": len(index.vocabulary), "empty": empty,
            "notes": notes, "embeddings": bundle is not None, "out": str(out)}


def document_embeddings(bundle: str | Path, texts: list[str], *,
                        key: bytes | None = None) -> np.ndarray:
    """L2-normalised pooled embeddings of ``texts`` from a text classification bundle."""
    from healthnn.bundle import load_bundle

    b = load_bundle(bundle, key=key)
    if not hasattr(b.task, "embed_texts"):
        raise DataError(f"bundle task '{b.config.task}' has no text embeddings",
                        file=str(bundle), hint="use a text_classification bundle")
    emb = b.task.embed_texts(b.model, texts)
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    return (emb / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def load_index(folder: str | Path) -> tuple[BM25Index, dict]:
    return BM25Index.load(folder)


def search_index(folder: str | Path, query: str, *, k: int = 10, use_embeddings: bool = True,
                 key: bytes | None = None) -> pd.DataFrame:
    """Ranked results for ``query``: rank, id, score, bm25 (and cosine), and a snippet."""
    index, meta = BM25Index.load(folder)
    qemb = None
    if use_embeddings and index.embeddings is not None and meta.get("embedding_bundle"):
        qemb = document_embeddings(meta["embedding_bundle"], [query], key=key)[0]
    hits = index.search(query, k=k, query_embedding=qemb)
    rows = []
    for rank, h in enumerate(hits, 1):
        text = index.texts[h.position] if index.texts else ""
        rows.append({"rank": rank, "id": h.id, "score": h.score, "bm25": h.bm25,
                     **({"cosine": h.cosine} if h.cosine is not None else {}),
                     "snippet": " ".join(text.split())[:160]})
    return pd.DataFrame(rows)
