"""The TF-IDF baseline applied with numpy equals scikit-learn's fitted pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from healthnn.text.baseline import TfidfBaseline

WORDS = ("fever cough chest pain tumour biopsy insulin glucose stroke aphasia renal "
         "creatinine liver bilirubin rash itch fracture cast").split()


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(n)]


def _sklearn(texts, multilabel):
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2 if len(texts) >= 50 else 1,
                          max_features=100_000, sublinear_tf=True)
    lr = LogisticRegression(C=10.0, max_iter=2000, random_state=0)
    return make_pipeline(vec, OneVsRestClassifier(lr) if multilabel else lr)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_multiclass_matches_sklearn(n_classes):
    texts, new = _texts(80, 1), _texts(30, 2) + ["", "unseen words only"]
    codes = np.random.default_rng(3).integers(0, n_classes, len(texts))
    ours = TfidfBaseline().fit(texts, codes, n_classes=n_classes + 1)  # one class never seen
    ref = _sklearn(texts, False).fit(texts, codes)
    got = ours.predict_proba(new)
    assert got.shape == (len(new), n_classes + 1) and np.all(got[:, -1] == 0)
    np.testing.assert_allclose(got[:, :n_classes], ref.predict_proba(new), rtol=1e-9, atol=1e-12)
    again = TfidfBaseline.from_dict(ours.to_dict())
    np.testing.assert_array_equal(again.predict_proba(new), got)


def test_multilabel_matches_sklearn_and_leaves_constant_labels_at_zero():
    texts, new = _texts(60, 4), _texts(20, 5)
    rng = np.random.default_rng(6)
    codes = (rng.random((len(texts), 4)) < 0.4).astype(int)
    codes[:, 3] = 0  # a label no training text has
    ours = TfidfBaseline(multilabel=True).fit(texts, codes, n_classes=4)
    ref = _sklearn(texts, True).fit(texts, codes[:, :3])
    got = ours.predict_proba(new)
    np.testing.assert_allclose(got[:, :3], ref.predict_proba(new), rtol=1e-9, atol=1e-12)
    assert np.all(got[:, 3] == 0)
