"""'evaluate' on training data is flagged (issue 19 item 5): fingerprints and row overlap."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from healthnn.checks.overlap import overlap_warnings, row_overlap


class _Images:  # predictors are image files, not table columns
    def feature_columns(self, df):
        return ["path"]

    def report_columns(self):
        return {"numeric": [], "categorical": []}

    def target_columns(self):
        return ["label"]


def test_fingerprints_and_non_table_tasks(tmp_path):
    manifest = {"data": {"train": {"path": str(tmp_path / "t.csv"), "sha256": "abc"},
                         "test": {"path": str(tmp_path / "x.csv"), "sha256": "def"}}}
    b = SimpleNamespace(manifest=manifest, task=_Images(), path=tmp_path)
    df = pd.DataFrame({"path": ["a.png"], "label": ["x"]})
    same = overlap_warnings(b, df, {"sha256": "abc"})
    assert len(same) == 1 and "training data file" in same[0] and "held out" not in same[0]
    assert overlap_warnings(b, df, {"sha256": "def"}) == []  # the bundle's own test file
    # an image manifest shares labels with its training rows, never "rows": no warning
    assert overlap_warnings(b, df, {"sha256": "new"}) == []


def test_row_overlap_compares_values_not_spelling():
    a = pd.DataFrame({"age": [61, 70, 55], "sex": ["F", "M", "F"], "died": [1, 0, 0]})
    b = pd.DataFrame({"age": [61.0, 70.0, 56.0], "sex": ["F ", "M", "F"], "died": [1, 0, 0]})
    assert row_overlap(a, b, ["age", "sex", "died"]) == 2
    assert row_overlap(a, b, ["age", "died"]) == 2
