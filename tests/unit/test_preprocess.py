import numpy as np
import pandas as pd
import pytest

from healthnn.data.preprocess import TablePreprocessor, infer_column_kinds
from healthnn.errors import DataError


def test_fit_on_train_only_and_round_trip():
    train = pd.DataFrame({"a": [1.0, 2.0, np.nan, 5.0], "c": ["x", "y", "x", None],
                          "k": [3, 3, 3, 3]})
    pre = TablePreprocessor(["a", "k"], ["c"]).fit(train)
    assert pre.dropped_ == {"k": "constant in the training data"}
    assert pre.feature_names_ == ["a", "a_missing", "c=(missing)", "c=x", "c=y"]
    X, errors = pre.transform(train)
    assert not errors
    finite = np.array([1.0, 2.0, 5.0])
    assert X[0, 0] == pytest.approx((1 - finite.mean()) / finite.std(), rel=1e-6)
    assert X[2, 0] == pytest.approx((2 - finite.mean()) / finite.std(), rel=1e-6)  # median
    assert X[:, 1].tolist() == [0, 0, 1, 0]
    again = TablePreprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(train)[0], X)


def test_unseen_category_and_bad_cells_are_per_row():
    pre = TablePreprocessor(["a"], ["c"]).fit(pd.DataFrame({"a": [1, 2, 3], "c": ["x", "y", "x"]}))
    X, errors = pre.transform(pd.DataFrame({"a": ["1", "abc", "inf"], "c": ["z", "x", "y"]}))
    assert X[0, 1:].tolist() == [0, 0]  # unseen level -> all zeros
    assert set(errors) == {1, 2}
    assert "expected a number" in errors[1] and "'abc'" in errors[1]


def test_text_in_numeric_column_is_an_error():
    df = pd.DataFrame({"age": [str(v) for v in range(30)] + ["sixty"]})
    with pytest.raises(DataError) as err:
        infer_column_kinds(df, ["age"], [], file="f.csv")
    assert err.value.row == 31 and err.value.column == "age"
    # mostly text: a categorical column
    df = pd.DataFrame({"ward": ["A", "B", "C", "1"]})
    assert infer_column_kinds(df, ["ward"], [], file="f.csv") == ([], ["ward"])


def test_all_features_unusable():
    with pytest.raises(DataError, match="no usable feature"):
        TablePreprocessor(["a"], []).fit(pd.DataFrame({"a": [np.nan, np.nan]}))


def test_many_levels_are_pooled():
    df = pd.DataFrame({"c": [f"l{i % 40}" for i in range(400)]})
    pre = TablePreprocessor([], ["c"], max_levels=5).fit(df)
    assert "c=(other)" in pre.feature_names_ and len(pre.feature_names_) == 6
    X, _ = pre.transform(df)
    assert np.allclose(X.sum(1), 1)
