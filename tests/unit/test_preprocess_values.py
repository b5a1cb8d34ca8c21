"""Values a numeric column must refuse or read as missing (issue 23 items 8 and 24, issue 19
item 9): beyond float32, infinite, true/false, and missing-value placeholders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthnn.data.preprocess import TablePreprocessor, infer_column_kinds
from healthnn.data.tables import numeric_column
from healthnn.errors import DataError

TRAIN = pd.DataFrame({"age": [50.0, 60.0, 70.0, 80.0], "sex": ["F", "M", "F", "M"]})


@pytest.mark.parametrize("fast", [True, False])
def test_values_beyond_float32_infinite_and_booleans_are_row_errors(fast, monkeypatch):
    from healthnn.data import preprocess

    if not fast:
        monkeypatch.setattr(preprocess, "_FAST_ROWS", -1)
    pre = TablePreprocessor(["age"], ["sex"]).fit(TRAIN)
    cells = [61, 1e40, -1e308, float("inf"), "inf", "1e400", True, "true", "FALSE", " 62 ", None]
    X, errors = pre.transform(pd.DataFrame({"age": cells, "sex": ["F"] * len(cells)},
                                           dtype=object))
    assert sorted(errors) == list(range(1, 9))
    assert "float32" in errors[1] and "float32" in errors[2]
    assert all("infinite" in errors[i] for i in (3, 4, 5))
    assert all("true/false" in errors[i] for i in (6, 7, 8))
    assert np.isfinite(X).all() and X.dtype == np.float32
    assert X[0, 0] != 0 and X[9, 0] != 0  # good rows are encoded


def test_a_bool_column_from_json_is_a_row_error_not_one():
    pre = TablePreprocessor(["age"], ["sex"]).fit(TRAIN)
    _, errors = pre.transform(pd.DataFrame({"age": [True, False], "sex": ["F", "M"]}))
    assert set(errors) == {0, 1} and "true/false" in errors[0]


def test_overflow_after_standardising_is_a_row_error():
    pre = TablePreprocessor(["x"], []).fit(pd.DataFrame({"x": [1e-20, 2e-20, 3e-20]}))
    X, errors = pre.transform(pd.DataFrame({"x": [2e-20, 1e30]}))  # 1e30 / 8e-21 > 3.4e38
    assert list(errors) == [1] and "once standardised" in errors[1]
    assert np.isfinite(X).all()


def test_training_values_beyond_float32_name_the_row():
    df = pd.DataFrame({"age": [50, 60, 1e40, 70]})
    with pytest.raises(DataError, match="float32") as e:
        TablePreprocessor(["age"], []).fit(df, "t.csv")
    assert e.value.row == 3 and e.value.column == "age"
    with pytest.raises(DataError, match="infinite") as e:
        numeric_column(pd.Series(["1", "inf"]), file="t.csv", column="los")
    assert e.value.row == 2
    with pytest.raises(DataError, match="float32"):
        numeric_column(pd.Series([1.0, -1e308]), file="t.csv", column="los")


def test_placeholders_are_missing_in_numeric_columns_and_counted():
    df = pd.DataFrame({"lab": ["5.1", ".", "4.0", "?", ".", "6.2", "-", "NA", "3.3", "4.4"]})
    marks = [".", "NA", "N/A", "-", "?", ""]
    numeric, cats = infer_column_kinds(df, ["lab"], [], file="f.csv", missing_values=marks)
    assert numeric == ["lab"] and cats == []
    pre = TablePreprocessor(numeric, cats, missing_values=marks).fit(df, "f.csv")
    assert pre.placeholders_ == {"lab": {".": 2, "?": 1, "-": 1, "NA": 1}}
    assert any("2 cell(s) '.'" in w and "training rows read as missing" in w
               for w in pre.warnings_)
    assert pre.feature_names_ == ["lab", "lab_missing"]
    X, errors = pre.transform(pd.DataFrame({"lab": [".", " ? ", "5"]}))
    assert not errors and X[:2, 1].tolist() == [1.0, 1.0] and X[2, 1] == 0.0
    again = TablePreprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(df)[0], pre.transform(df)[0])
    # turned off: a '.' in a column of numbers is the error it always was
    many = pd.DataFrame({"lab": [str(v) for v in range(20)] + ["."]})
    with pytest.raises(DataError, match="expected a number"):
        infer_column_kinds(many, ["lab"], [], file="f.csv", missing_values=[])


def test_true_false_columns_are_categorical():
    df = pd.DataFrame({"smoker": [True, False, True], "flag": ["true", "false", None],
                       "n": [1, 2, 3]})
    assert infer_column_kinds(df, ["smoker", "flag", "n"], [], file="f.csv") == (
        ["n"], ["smoker", "flag"])


def test_event_values_beyond_float32_are_out_of_range_without_ranges():
    from healthnn.data import events as E

    ev = pd.DataFrame({"stay": ["a"] * 4, "time": [0.0, 1.0, 2.0, 3.0],
                       "variable": ["HR"] * 4, "value": [80.0, 1e40, -np.inf, -1e308]})
    ev["src"], ev["line"] = 0, np.arange(1, 5)
    ev.attrs.update(sources=["ev.csv"], where="row")
    clean, rep = E.clean_events(ev, ranges=None, missing_values=None)
    assert clean["value"].tolist() == [80.0] and rep.out_of_range == {"HR": 3}
