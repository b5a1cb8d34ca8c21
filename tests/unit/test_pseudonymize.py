import hashlib

import pandas as pd
import pytest

from healthnn.errors import DataError
from healthnn.privacy.pseudonymize import k_anonymity, pseudonymize

KEY = bytes(range(32))


def table():
    return pd.DataFrame({
        "mrn": ["A1", "A1", "B2", "C3", None],
        "admit": ["2021-03-01", "2021-03-10", "2020-12-31", "not a date", "2022-01-01"],
        "discharge": ["2021-03-05", "2021-03-20", "2021-01-02", "2021-01-01", ""],
        "age": ["34", "34", "91", "x", "60"],
        "zip": ["02139", "02139", "03601", "123", "90210"],
        "name": ["Ann", "Ann", "Bob", "Cy", "Di"],
        "lab": ["1.2", "3.4", "5.6", "7.8", "9.0"],
    })


def test_pseudonyms_are_keyed_consistent_and_not_plain_hashes():
    out, report = pseudonymize(table(), key=KEY, id_columns=["mrn"], drop_columns=["name"])
    assert out["mrn"][0] == out["mrn"][1] != out["mrn"][2]
    assert out["mrn"][4] is None  # missing stays missing
    assert "A1" not in out["mrn"].tolist() and "name" not in out.columns
    assert hashlib.sha256(b"A1").hexdigest()[:16] not in out["mrn"][0]
    other, _ = pseudonymize(table(), key=bytes(32), id_columns=["mrn"])
    assert other["mrn"][0] != out["mrn"][0]
    assert out["lab"].tolist() == table()["lab"].tolist()  # other columns unchanged
    assert report["rows"] == 5 and "A1" not in str(report)


def test_date_shift_preserves_intervals_per_patient():
    df = table()
    out, report = pseudonymize(df, key=KEY, id_columns=["mrn"], date_columns=["admit", "discharge"])
    d = lambda s: pd.to_datetime(s)  # noqa: E731
    for i in (0, 1, 2):
        assert (d(out["discharge"][i]) - d(out["admit"][i])) == (d(df["discharge"][i]) - d(df["admit"][i]))
    assert (d(out["admit"][1]) - d(out["admit"][0])).days == 9  # same patient, same shift
    assert out["admit"][0] != df["admit"][0]
    # unparseable and patient-less dates are blanked and reported, not passed through
    assert out["admit"][3] is None and out["admit"][4] is None
    assert report["blanked_cells"]["admit"]["rows"] == [4, 5]


def test_generalisation_and_k_anonymity():
    out, report = pseudonymize(table(), key=KEY, age_columns=["age"], zip_columns=["zip"], k=2)
    assert out["age"].tolist() == ["30-34", "30-34", "90+", None, "60-64"]
    assert out["zip"].tolist() == ["021", "021", "000", None, "902"]
    assert report["blanked_cells"]["age"]["rows"] == [4]
    ka = report["k_anonymity"]
    assert ka["columns"] == ["age", "zip"] and ka["min_group_size"] == 1
    assert ka["rows_in_small_groups"] == 3 and not ka["satisfied"]
    assert k_anonymity(pd.DataFrame({"a": [1, 1, 2, 2]}), ["a"], 2)["satisfied"]


def test_bad_requests():
    with pytest.raises(DataError, match="needs the patient's identifier"):
        pseudonymize(table(), key=KEY, date_columns=["admit"])
    with pytest.raises(DataError, match="column 'mrnn'"):
        pseudonymize(table(), key=KEY, id_columns=["mrnn"])
