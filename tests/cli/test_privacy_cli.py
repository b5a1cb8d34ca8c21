import json

import pandas as pd

from healthnn.cli import main


def test_pseudonymize_command(tmp_path, capsys):
    pd.DataFrame({"mrn": ["A", "A", "B"], "admit": ["2020-01-01", "2020-02-01", "bad"],
                  "age": [30, 95, 40], "zip": ["02139", "02139", "10001"], "name": ["x", "y", "z"]}
                 ).to_csv(tmp_path / "in.csv", index=False)
    assert main(["keygen", str(tmp_path / "key")]) == 0
    code = main(["pseudonymize", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out.csv"),
                 "--id-columns", "mrn", "--date-columns", "admit", "--age-columns", "age",
                 "--zip-columns", "zip", "--drop-columns", "name", "--k", "2",
                 "--key-file", str(tmp_path / "key")])
    out = capsys.readouterr().out
    assert code == 0 and "k-anonymity" in out and "NOT met" in out
    df = pd.read_csv(tmp_path / "out.csv")
    assert list(df.columns) == ["mrn", "admit", "age", "zip"] and len(df) == 3
    report = json.loads((tmp_path / "out.csv.report.json").read_text())
    assert report["blanked_cells"]["admit"]["rows"] == [3]


def test_pseudonymize_without_key_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HEALTHNN_KEY_FILE", raising=False)
    pd.DataFrame({"mrn": ["A"]}).to_csv(tmp_path / "in.csv", index=False)
    code = main(["pseudonymize", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"),
                 "--id-columns", "mrn"])
    err = capsys.readouterr().err
    assert code == 2 and "no key given" in err and "healthnn keygen" in err
