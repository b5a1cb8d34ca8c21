"""The TF-IDF + logistic regression baseline that every text model is compared with.

scikit-learn fits it (word 1-2 grams, sublinear term frequency, L2-regularised logistic
regression); the fitted numbers (terms, idf weights, coefficients) are then kept as plain arrays
and applied with numpy, so the baseline is saved in a bundle as JSON, reloads without pickle and
scores new data in ``healthnn evaluate`` exactly as it scored the test rows at training time.

>>> texts = ["chest pain radiating", "pain in the chest", "cough and fever", "fever with cough"]
>>> base = TfidfBaseline().fit(texts, np.array([0, 0, 1, 1]), n_classes=2)
>>> base.predict_proba(["fever and cough"]).argmax(1).tolist()
[1]
>>> again = TfidfBaseline.from_dict(base.to_dict())
>>> bool(np.array_equal(again.predict_proba(texts), base.predict_proba(texts)))
True
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import numpy as np

__all__ = ["TfidfBaseline"]


def _vectorizer(n_texts: int, **kw: Any) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2 if n_texts >= 50 else 1,
                           max_features=100_000, sublinear_tf=True, **kw)


class TfidfBaseline:
    """TF-IDF (word 1-2 grams) + logistic regression; multi-label: one model per label.

    ``fit(texts, codes, n_classes)``: ``codes`` are class indices (multi-class) or a 0/1 matrix
    (multi-label). Learned: ``terms_``, ``idf_``, ``coef_`` (classes or labels x terms),
    ``intercept_``, ``columns_`` (which output column each coefficient row scores).
    """

    def __init__(self, multilabel: bool = False, C: float = 10.0, seed: int = 0) -> None:
        self.multilabel = multilabel
        self.C = C
        self.seed = seed

    def fit(self, texts: list[str], codes: np.ndarray, n_classes: int) -> TfidfBaseline:
        from sklearn.linear_model import LogisticRegression

        vec = _vectorizer(len(texts))
        x = vec.fit_transform(texts)
        lr = lambda: LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)  # noqa: E731
        if self.multilabel:
            # a label every training text has (or none has) cannot be learned: it stays 0
            keep = np.flatnonzero((codes.sum(0) > 0) & (codes.sum(0) < len(codes)))
            fits = [lr().fit(x, codes[:, j].astype(int)) for j in keep]
            coef = np.vstack([f.coef_ for f in fits])
            intercept = np.concatenate([f.intercept_ for f in fits])
            columns = keep
        else:
            model = lr().fit(x, codes)
            coef, intercept = model.coef_, model.intercept_
            columns = model.classes_.astype(int)
        self.n_classes_ = int(n_classes)
        self.terms_ = [str(t) for t in vec.get_feature_names_out()]
        self.idf_ = vec.idf_.astype(np.float64)
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.columns_ = np.asarray(columns, dtype=np.int64)
        self._index = {t: i for i, t in enumerate(self.terms_)}
        return self

    def _features(self, texts: list[str]) -> Any:
        """The TF-IDF rows (sparse): sublinear counts of the known terms, times idf, L2-scaled."""
        from scipy import sparse

        analyse = _vectorizer(len(texts)).build_analyzer()
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            for term, n in Counter(analyse(text)).items():
                j = self._index.get(term)
                if j is not None:
                    rows.append(row)
                    cols.append(j)
                    vals.append((1.0 + np.log(n)) * self.idf_[j])
        x = sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.terms_)))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(1))).ravel()
        return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), n_classes)``: class probabilities, or each label's probability."""
        z = np.asarray(self._features(texts) @ self.coef_.T) + self.intercept_
        out = np.zeros((len(texts), self.n_classes_))
        if self.multilabel:
            out[:, self.columns_] = 1.0 / (1.0 + np.exp(-z))
        elif len(self.columns_) == 2 and z.shape[1] == 1:  # binary: one coefficient row
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            out[:, self.columns_] = np.column_stack([1.0 - p1, p1])
        else:
            z = z - z.max(1, keepdims=True)
            e = np.exp(z)
            out[:, self.columns_] = e / e.sum(1, keepdims=True)
        return out

    # -- saving ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"multilabel": self.multilabel, "C": self.C, "seed": self.seed,
                "n_classes": self.n_classes_, "terms": self.terms_,
                "idf": _b64(self.idf_), "coef": _b64(self.coef_), "coef_shape": list(self.coef_.shape),
                "intercept": _b64(self.intercept_), "columns": self.columns_.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TfidfBaseline:
        self = cls(multilabel=bool(d["multilabel"]), C=float(d["C"]), seed=int(d["seed"]))
        self.n_classes_ = int(d["n_classes"])
        self.terms_ = list(d["terms"])
        self.idf_ = _unb64(d["idf"])
        self.coef_ = _unb64(d["coef"]).reshape(d["coef_shape"])
        self.intercept_ = _unb64(d["intercept"])
        self.columns_ = np.asarray(d["columns"], dtype=np.int64)
        self._index = {t: i for i, t in enumerate(self.terms_)}
        return self


def _b64(a: np.ndarray) -> str:
    """float64 little-endian bytes as base64: exact, and about a third the size of decimals."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def _unb64(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<f8").copy()
