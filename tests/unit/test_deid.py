"""The de-identification engine on notes written for these tests (no real patient data)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from healthnn.errors import DataError, HealthnnError
from healthnn.privacy.deid import Deidentifier, Span, load_key
from healthnn.privacy.keys import generate_key_file

KEY = b"unit-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def tagger():
    return Deidentifier("tag")


def labels_of(deid, text):
    return {text[s.start:s.end]: s.label for s in deid.find(text)}


# text, the PHI in it, its label
PHI = [
    ("Seen by Dr. Gregory Haverford this morning.", "Haverford", "NAME"),
    ("Seen by Dr. Gregory Haverford this morning.", "Gregory", "NAME"),
    ("pt seen by dr healey, aware of labs", "healey", "NAME"),
    ("Wife Margaret called twice overnight.", "Margaret", "NAME"),
    ("HER SON, ROLF, CALLED TODAY", "ROLF", "NAME"),
    ("Marie Okonjo, RN", "Okonjo", "NAME"),
    ("Reported to Dr. O'Rourke, bolus given.", "O'Rourke", "NAME"),
    ("Per B. Tolliver the ileus remains.", "Tolliver", "NAME"),
    ("Mr. Vandermeer was admitted for SOB.", "Vandermeer", "NAME"),
    ("Admitted on 3/14/2021 with chest pain.", "3/14/2021", "DATE"),
    ("Echo done 2021-03-14, EF 40%.", "2021-03-14", "DATE"),
    ("S/P CABG 7/22, extubated 7/23.", "7/22", "DATE"),
    ("Last seen Mar. 14 in clinic.", "Mar. 14", "DATE"),
    ("Surgery on March 14th, 2019 went well.", "March 14th, 2019", "DATE"),
    ("Born on the fourteenth of March.", "fourteenth of March", "DATE"),
    ("Admitted 14 Mar 2020 from home.", "14 Mar 2020", "DATE"),
    ("MI in 5/96, stent placed.", "5/96", "DATE"),
    ("Family visited on Christmas.", "Christmas", "DATE"),
    ("Pt is a 92 yo woman with CHF.", "92", "AGE"),
    ("Age 101, lives alone.", "101", "AGE"),
    ("Daughter can be reached at (617) 555-0199.", "(617) 555-0199", "PHONE"),
    ("Call 617-555-0199 ext 42 with questions.", "617-555-0199 ext 42", "PHONE"),
    ("Pager 83554 if needed.", "83554", "PHONE"),
    ("Fax: 410.555.0100", "410.555.0100", "PHONE"),
    ("Email j.doe@example.com for records.", "j.doe@example.com", "EMAIL"),
    ("SSN 123-45-6789 on file.", "123-45-6789", "SSN"),
    ("MRN: 00123456, acct # A778899.", "00123456", "ID"),
    ("MRN: 00123456, acct # A778899.", "A778899", "ID"),
    ("Medicare member id 1EG4TE5MK73 verified.", "1EG4TE5MK73", "ID"),
    ("Pacemaker serial number PJN123456 checked.", "PJN123456", "ID"),
    ("Driver licence number S530-4412-9921 on chart.", "S530-4412-9921", "ID"),
    ("VIN 1HGCM82633A004352 of the car in the crash.", "1HGCM82633A004352", "ID"),
    ("Lives at 12 Clover Street, apt 3.", "12 Clover Street, apt 3", "ADDRESS"),
    ("Lives in Baltimore with her sister.", "Baltimore", "CITY"),
    ("Home: Towson, MD 21204.", "21204", "ZIP"),
    ("Transferred from Ashgrove Hospital for cath.", "Ashgrove", "HOSPITAL"),
    ("Transferred to Wexcombe 3 after cath.", "Wexcombe", "HOSPITAL"),
    ("Portal: https://portal.example.org/pt/123 for results.", "https://portal.example.org/pt/123", "URL"),
    ("Device IP 10.12.0.7 reported an alarm.", "10.12.0.7", "IP"),
    ("BP 92/50. NP ROSALIND MADE AWARE.", "ROSALIND", "NAME"),
    ("Grace Przywara aware of the change.", "Przywara", "NAME"),
    ("Hank Okonjo (son) at bedside all day.", "Okonjo", "NAME"),
    ("Pt resting comfortably.\nKaren Ann Tolliver\n", "Tolliver", "NAME"),
    ("Checked by Dr B Castellano at noon.", "Castellano", "NAME"),
    ("Pt transferred to SVMC for surgery.", "SVMC", "HOSPITAL"),
    ("Had surgery at Valley Memorial last year.", "Valley", "HOSPITAL"),
    ("Daughter lives in Cedar Falls, IA 50613.", "Cedar Falls", "CITY"),
    ("Seen on the 11th.", "11th", "DATE"),
]


@pytest.mark.parametrize("text, phi, label", PHI, ids=[f"{p[2]}:{p[1]}" for p in PHI])
def test_finds_every_phi_type(tagger, text, phi, label):
    found = tagger.find(text)
    start = text.index(phi)
    covering = [s for s in found if s.start <= start and s.end >= start + len(phi)]
    if not covering:
        # a multi-word PHI may come as adjacent spans: each of its words must be covered
        for m in re.finditer(r"[A-Za-z0-9]+", phi):
            a = start + m.start()
            assert any(s.start <= a < s.end for s in found), (phi, m.group(), found)
        return
    assert covering[0].label == label


KEEP = [
    ("Hx of Parkinson's disease, on Sinemet.", ["Parkinson"]),
    ("Foley catheter draining clear yellow urine.", ["Foley"]),
    ("GU: FOLEY IN PLACE, 3 WAY FOLEY TO GRAVITY", ["FOLEY", "WAY"]),
    ("Apgar score 9/9 at five minutes.", ["Apgar", "9/9"]),
    ("Glasgow Coma Scale 15, pupils 3/3 brisk.", ["Glasgow", "Coma", "15", "3/3"]),
    ("BP 120/80, HR 88, RR 16, SpO2 98% on RA.", ["120/80", "88", "98"]),
    ("BP 110/70 (MAP 83); NBP 9/5 not reliable", ["110/70", "9/5"]),
    ("Lasix 40 mg IV given at 0600 and 1800.", ["Lasix", "40", "0600", "1800"]),
    ("Heparin drip at 1100 units/hr, PTT 62.", ["Heparin", "1100", "62"]),
    ("K 3.9, Cr 2.1, Hct 28.5, Na 138.", ["3.9", "2.1", "28.5", "138"]),
    ("Pain 4/10 at the incision, strength 5/5.", ["4/10", "5/5"]),
    ("2/6 SEM at LSB; on BIPAP 10/5.", ["2/6", "10/5"]),
    ("ABG 7.35/45/80 on AC 500x14.", ["7.35", "45", "80"]),
    ("Swan-Ganz catheter in place, Hickman line flushed.", ["Swan", "Ganz", "Hickman"]),
    ("Positive Babinski sign, Homan's sign negative.", ["Babinski", "Homan"]),
    ("GCS 14, RASS -1, CAM negative.", ["14", "RASS", "CAM"]),
    ("Seen at 14:30 and again at 2 pm; MI in 1992.", ["14", "30", "2", "1992"]),
    ("Wolff-Parkinson-White pattern on EKG.", ["Wolff", "Parkinson", "White"]),
    ("Pt alert and oriented x3, MAE, PERRL.", ["alert", "MAE", "PERRL"]),
    ("Son will call tonight; wife aware of plan.", ["will", "aware"]),
    ("Greenfield filter in place; Quinton catheter flushed.", ["Greenfield", "Quinton"]),
    ("Hx of Buerger's disease and Candida albicans infection.", ["Buerger", "Candida"]),
    ("MS ALERT, MAE, FOLLOWS COMMANDS. PA LINE INTACT.", ["ALERT", "LINE"]),
    ("VO2 max 25 ml/kg/min; Framingham risk score 12%.", ["VO", "Framingham"]),
    ("Returned to normal rhythm; weaned to 5/5, back to PS 10/5.", ["normal", "5/5", "10/5"]),
    ("02 dec from 4 L NC, sats 98%.", ["dec"]),
]


@pytest.mark.parametrize("text, keep", KEEP, ids=[k[0][:30] for k in KEEP])
def test_keeps_clinical_meaning(tagger, text, keep):
    found = tagger.find(text)
    for word in keep:
        a = text.index(word)
        hit = [s for s in found if s.start < a + len(word) and s.end > a]
        assert not hit, (word, hit)


def test_years_kept_by_default_and_removable():
    text = "MI in 1992, CABG in 2004."
    assert Deidentifier().find(text) == []
    assert {text[s.start:s.end] for s in Deidentifier(keep_year=False).find(text)} == {"1992", "2004"}


def test_span_offsets_match_original_text(tagger):
    text = "Dr. Ann Keller saw pt 3/4/2020 at Ashgrove Hospital; call 617-555-0100.\nWife Rose aware."
    spans = tagger.find(text)
    assert spans == sorted(spans, key=lambda s: s.start)
    for a, b in zip(spans, spans[1:]):
        assert a.end <= b.start
    got = {text[s.start:s.end] for s in spans}
    assert {"Ann Keller", "3/4/2020", "Ashgrove", "617-555-0100"} <= got
    new, spans2 = tagger.deidentify(text)
    assert spans2 == spans
    assert "[NAME]" in new and "Keller" not in new and "617" not in new


def test_mask_keeps_length_and_line_breaks():
    text = "Dr. Ann Keller 3/4/2020\nok"
    new, spans = Deidentifier("mask").deidentify(text)
    assert len(new) == len(text)
    assert new.endswith("\nok") and "Keller" not in new and "*" in new


def test_terms_add_local_dictionaries():
    d = Deidentifier(terms={"HOSPITAL": ["NWH", "Ashgrove"], "NAME": ["Stella Quill"]})
    text = "transfer to nwh then ashgrove; visit by stella quill"
    assert {text[s.start:s.end]: s.label for s in d.find(text)} == {
        "nwh": "HOSPITAL", "ashgrove": "HOSPITAL", "stella quill": "NAME"}
    with pytest.raises(DataError, match="unknown label"):
        Deidentifier(terms={"PLACE": ["x"]})


# ---------------------------------------------------------------------------- surrogates

def test_surrogates_consistent_within_and_across_notes_of_a_patient():
    d = Deidentifier("surrogate", key=KEY)
    n1, _ = d.deidentify("Dr. Haverford called wife Margaret at 617-555-0199.", patient="p1")
    n2, _ = d.deidentify("Margaret visited; Dr. HAVERFORD aware. Call 617-555-0199.", patient="p1")
    for real in ("Haverford", "Margaret", "617-555-0199"):
        assert real.lower() not in (n1 + n2).lower()
    doc = re.search(r"Dr\. (\w+)", n1).group(1)
    wife = re.search(r"wife (\w+)", n1).group(1)
    phone = re.search(r"at ([\d-]+)", n1).group(1)
    assert doc.upper() in n2 and wife in n2 and phone in n2
    assert re.fullmatch(r"\d{3}-\d{3}-\d{4}", phone)
    # repeatable with the same key, different with another key
    assert d.deidentify("Dr. Haverford", patient="p1")[0] == f"Dr. {doc}"
    other = Deidentifier("surrogate", key=b"another-key-0123456789abcdef")
    assert other.deidentify("Dr. Haverford called wife Margaret at 617-555-0199.", patient="p1")[0] != n1


def test_surrogate_dates_shift_per_patient_and_keep_intervals():
    d = Deidentifier("surrogate", key=KEY)
    text = "Admitted 3/14/2021, CABG 3/20/2021, discharged 04/02/2021; seen 3/28."
    new, spans = d.deidentify(text, patient="p7")
    dates = re.findall(r"\d{1,2}/\d{1,2}/\d{4}", new)
    assert len(dates) == 3
    parsed = [dt.datetime.strptime(x, "%m/%d/%Y").date() for x in dates]
    assert (parsed[1] - parsed[0]).days == 6 and (parsed[2] - parsed[0]).days == 19
    shift = d.date_shift_days("p7")
    assert parsed[0] - dt.date(2021, 3, 14) == dt.timedelta(days=shift)
    assert -730 <= shift <= -30
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", dates[2])  # zero padding kept
    # the same patient gets the same shift in another note; another patient another shift
    again, _ = d.deidentify("CABG 3/20/2021", patient="p7")
    assert dates[1] in again
    assert {d.date_shift_days(f"p{i}") for i in range(20)} != {shift}


def test_surrogate_written_dates_and_ages():
    d = Deidentifier("surrogate", key=KEY)
    shift = d.date_shift_days("p1")
    new, _ = d.deidentify("Seen March 14, 2020. 95 yo man.", patient="p1")
    expect = dt.date(2020, 3, 14) + dt.timedelta(days=shift)
    assert expect.strftime("%B") in new and str(expect.day) in new and str(expect.year) in new
    assert "90+ yo" in new


def test_surrogate_needs_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("HEALTHNN_KEY_FILE", raising=False)
    with pytest.raises(DataError, match="needs a secret key"):
        Deidentifier("surrogate")
    short = tmp_path / "k"
    short.write_text("abc")
    with pytest.raises(HealthnnError, match="not a healthnn key"):
        load_key(short)
    with pytest.raises(HealthnnError, match="not found"):
        load_key(tmp_path / "missing")
    good = generate_key_file(tmp_path / "good")
    monkeypatch.setenv("HEALTHNN_KEY_FILE", str(good))
    assert load_key() == bytes.fromhex(good.read_text().strip())
    assert Deidentifier("surrogate").deidentify("Dr. Haverford")[0] != "Dr. Haverford"


def test_bad_arguments():
    with pytest.raises(DataError, match="unknown mode"):
        Deidentifier("redact")
    with pytest.raises(TypeError):
        Deidentifier().find(None)
    assert Deidentifier().deidentify("") == ("", [])


def test_one_huge_note(tagger):
    block = "BP 120/80, HR 80, K 3.9; Lasix 40 mg IV. Pain 2/10. Foley to gravity.\n"
    text = block * 4000 + "Dr. Haverford notified 617-555-0100."  # about 300 kB
    spans = tagger.find(text)
    assert [text[s.start:s.end] for s in spans] == ["Haverford", "617-555-0100"]


def test_span_is_plain_data():
    s = Span(1, 4, "NAME", 0.9)
    assert s.to_dict() == {"start": 1, "end": 4, "label": "NAME", "score": 0.9}


def test_surrogate_years_and_written_days():
    d = Deidentifier("surrogate", key=KEY, keep_year=False)
    shift = d.date_shift_days("p1")
    new, _ = d.deidentify("MI in 1992, CABG '95. Born on the fourteenth of March.", patient="p1")
    assert str((dt.date(1992, 7, 1) + dt.timedelta(days=shift)).year) in new
    assert "'" + f"{(dt.date(1995, 7, 1) + dt.timedelta(days=shift)).year % 100:02d}" in new
    assert "fourteenth" not in new and "[DATE]" in new


def test_a_batch_is_searched_together_and_a_failing_note_is_withheld(monkeypatch):
    """The file runner searches a batch of notes in one call (an NER model runs on all of them
    at once); when that call fails it goes note by note, and withholds only the failing note."""
    from healthnn.privacy import _deid_io

    calls = []

    class Flaky(Deidentifier):
        def find_many(self, texts):
            calls.append(len(texts))
            if any("BOOM" in t for t in texts):
                raise RuntimeError("engine bug")
            return super().find_many(texts)

    monkeypatch.setattr(_deid_io, "_ENGINE", Flaky())
    batch = [("Call 617-555-0199.", "p1"), ("", None), ("Seen 3/14/2020.", "p2")]
    out = _deid_io._work(batch)
    assert calls == [2]  # one call for the two non-empty notes
    assert [o[0] for o in out] == ["Call [PHONE].", "", "Seen [DATE]."]
    calls.clear()
    out = _deid_io._work([("Call 617-555-0199.", None), ("BOOM 3/14/2020", None)])
    assert calls == [2, 1, 1]  # the batch, then each note alone
    assert out[0][0] == "Call [PHONE]." and out[0][2] is None
    assert out[1][0] == _deid_io.WITHHELD and "RuntimeError" in out[1][2]
    assert "BOOM" not in out[1][2]  # the note's text is not in the message
