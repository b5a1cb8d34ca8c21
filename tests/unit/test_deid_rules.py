"""Context rules of the de-identifier, one note per rule (all notes written for these tests).

Each PHI case names the words that must be covered; each KEEP case names clinical words that a
nearby rule could take by mistake and must not.
"""

from __future__ import annotations

import re

import pytest

from healthnn.privacy.deid import Deidentifier

KEY = b"unit-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def tagger():
    return Deidentifier("tag")


def covered(found, text, phrase):
    """Every letter/digit run of ``phrase`` (first occurrence in ``text``) lies in a span."""
    start = text.index(phrase)
    return all(
        any(s.start <= start + m.start() and s.end >= start + m.end() for s in found)
        for m in re.finditer(r"[A-Za-z0-9]+", phrase)
    )


PHI = [
    # names after a relation, in mixed case even when the name is also an English word
    ("Son Sparky in to visit this evening.", ["Sparky"], "NAME"),
    ("Family: 1) niece: Svetlana Okonjo - cell listed.", ["Svetlana", "Okonjo"], "NAME"),
    ("Husband and attorney (Rolf Vandermeer) aware of plan.", ["Rolf", "Vandermeer"], "NAME"),
    ('Husband "Chip" visited, wife Dottie updated.', ["Chip", "Dottie"], "NAME"),
    ("Daughters Sunny, Ingrid and Rosemary in to visit.", ["Sunny", "Ingrid", "Rosemary"], "NAME"),
    ("SUPPORTIVE FAMILY. ODALYS PRZYWARA (NIECE) AT BEDSIDE.", ["ODALYS", "PRZYWARA"], "NAME"),
    # after a verb of talking to someone, and before "'s husband"
    ("Talked with Ignatius and his wife about goals.", ["Ignatius"], "NAME"),
    ("Informed Beatrix of the transfer; message left for Brunhilde.", ["Beatrix", "Brunhilde"], "NAME"),
    ("Report given to Ophelia at 1900.", ["Ophelia"], "NAME"),
    ("Plan d/w Brightwater, will start heparin.", ["Brightwater"], "NAME"),
    ("Mary's husband called for an update.", ["Mary"], "NAME"),
    # role abbreviations in capitals, slash lists
    ("HO Brightwater aware of labs.", ["Brightwater"], "NAME"),
    ("RT Bobby changed the trach ties.", ["Bobby"], "NAME"),
    ("Team: Dr. Castellano/Brightwater.", ["Castellano", "Brightwater"], "NAME"),
    # names before a credential: double-barrelled, O'Keefe, initials alone on a signature line
    ("Resp- 1930- Brandt-Tolliver MD placed a chest tube.", ["Brandt", "Tolliver"], "NAME"),
    ("2u ffp given. nora o'keefe np aware.", ["nora", "o'keefe"], "NAME"),
    ("Pt comfortable overnight.\nLMW RN\n", ["LMW"], "NAME"),
    ("Pt comfortable overnight.\n- DPK, RN", ["DPK"], "NAME"),
    # places
    ("Per Wexcombe 4 RN, UO low.", ["Wexcombe"], "HOSPITAL"),
    ("TRANSFER WEXCOMBE 2.\n", ["WEXCOMBE"], "HOSPITAL"),
    ("Transferred from Sinai at 0300.", ["Sinai"], "HOSPITAL"),
    ("Transferred from an OSH (Peninsula Regional).", ["Peninsula"], "HOSPITAL"),
    ("brought to Corbin Holloway EW after the fall.", ["Corbin Holloway"], "HOSPITAL"),
    ("son drove back to grand rapids today.", ["grand rapids"], "CITY"),
    ("social: lives alone in Annapolis, niece nearby.", ["Annapolis"], "CITY"),
    ("cousin from Cedar Falls, IA.\nwill visit sat", ["Cedar Falls"], "CITY"),
    ("on heparin per U Delaware protocol.", ["U Delaware"], "HOSPITAL"),
    # dates and ages
    ("Seen on Sat 3/14 and again Sunday 3/15.", ["3/14", "3/15"], "DATE"),
    ("night nursing note\n4->5 dec, 97\n", ["4", "5 dec"], "DATE"),
    ("Away 3-4 March, back the week after.", ["3", "4 March"], "DATE"),
    ("Admitted mid-March with a fall; discharged late Oct.", ["March", "Oct"], "DATE"),
    ("A ninety-two year old woman with CHF.", ["ninety-two"], "AGE"),
    ("Now one hundred and one years of age.", ["one hundred and one"], "AGE"),
    ("She turned 95 last week.", ["95"], "AGE"),
    ("Active woman in her mid 90s, lives alone.", ["90s"], "AGE"),
    ("A nonagenarian with CHF.", ["nonagenarian"], "AGE"),
]


@pytest.mark.parametrize("text, phrases, label", PHI, ids=[f"{p[2]}:{p[1][0]}" for p in PHI])
def test_context_rules_find_phi(tagger, text, phrases, label):
    found = tagger.find(text)
    for phrase in phrases:
        assert covered(found, text, phrase), (phrase, [(text[s.start:s.end], s.label) for s in found])
    first = text.index(phrases[0])
    assert any(s.label == label for s in found if s.start <= first < s.end)


KEEP = [
    # names must not run on into the next words
    ("FAMILY: DAUGHTER JOAN WENT BACK TO OREGON TODAY.", ["WENT", "BACK", "OREGON"]),
    ("COPING: NIECE,MARY LOU HAS CALLED TWICE.", ["HAS", "CALLED"]),
    ("message from daughter Jill-who says she is coming.", ["who", "says"]),
    ("lasix held per Dr. Pennington-concern is volume.", ["concern"]),
    # credentials that are words, role words before a credential
    ("Treat delirium w/ Seroquel, do not restrain.", ["Seroquel"]),
    ("Ostomy RN in to teach wife.", ["Ostomy"]),
    ("Charge RN aware of the plan.", ["Charge"]),
    # SOAP headings and sides are not initials
    ("S: no complaints.\nA. More alert than yesterday.", ["More"]),
    ("200 CC FROM L . BOTH TUBES PATENT.", ["BOTH", "TUBES"]),
    ("knows her name, is able to state the year.", ["able"]),
    # states are not PHI under Safe Harbor; units and treatments are not places
    ("Pt moved to the NSICU overnight.", ["NSICU"]),
    ("changed back to fm per rt b/c mouth breathing.", ["fm"]),
    ("OT WILL F/U IN 2 DAYS.", ["IN"]),
    ("RHYTHM CHANGED TO IDIOVENTRICULAR 40'S.", ["IDIOVENTRICULAR"]),
    ("Continue albuterolQ4 and flovent BID.", ["albuterolQ"]),
    ("awake, orientedx2, calm.", ["orientedx"]),
    ("trending troponin 4.2 this am.", ["troponin"]),
    ("Transferred to Radiology for CT, back to Bed 4.", ["Radiology", "Bed"]),
    ("pt rt arm swollen; PT eval done, OT to follow.", ["arm", "eval"]),
    ("Came to the ER via EMS, then seen in Main ED.", ["Main"]),
    ("Paged Renal and Cardiology; spoke with Pharmacy; notified Team.", ["Renal", "Cardiology", "Pharmacy", "Team"]),
    ("Dilaudid 2/4 mg prn; K/Mg repleted per protocol.", ["Dilaudid", "Mg"]),
    # eponyms and ventilator settings
    ("EGD: small mallory weiss tear noted.", ["mallory", "weiss"]),
    ("Keep anderson tubes at bedside.", ["anderson"]),
    ("Back on face mask 12/5 50% overnight.", ["12/5"]),
    ("Sudden 10/10 angina at rest.", ["10/10"]),
    ("O2 dec to 2L; sats dec from 98; marked edema; he may go home.", ["dec", "marked", "may"]),
    ("O2 sat 94% on 2L; sats 98/100 on NRB.", ["94", "98"]),
    # numbers near age words that are not ages
    ("Age of catheter 3 days; turned q2h; BP 95/60.", ["3", "95"]),
    ("Sats in the 90s on 2L; BP in the 90s systolic; a man in his 80s.", ["90s", "80s"]),
]


@pytest.mark.parametrize("text, keep", KEEP, ids=[k[0][:30] for k in KEEP])
def test_context_rules_keep_clinical_words(tagger, text, keep):
    found = tagger.find(text)
    for word in keep:
        a = text.index(word)
        hit = [(text[s.start:s.end], s.label) for s in found if s.start < a + len(word) and s.end > a]
        assert not hit, (word, hit)


def test_signature_initials_get_initials_as_surrogates():
    d = Deidentifier("surrogate", key=KEY)
    new, spans = d.deidentify("Pt comfortable.\nLW RN\n", patient="p1")
    assert [("Pt comfortable.\nLW RN\n"[s.start:s.end], s.label) for s in spans] == [("LW", "NAME")]
    line = new.splitlines()[1]
    assert re.fullmatch(r"[A-Z]{2} RN", line) and line != "LW RN"
    assert d.deidentify("Note.\nLW RN", patient="p1")[0].splitlines()[1] == line  # consistent


def test_written_out_age_surrogate():
    new, _ = Deidentifier("surrogate", key=KEY).deidentify("A ninety-two year old woman.", patient="p1")
    assert "ninety" not in new and "90+" in new


def test_site_list_roster_and_wards(tmp_path):
    """A site list adds what no general rule can know: a surname with no context, a ward name."""
    from healthnn.errors import DataError
    from healthnn.privacy.deid import load_terms

    site = tmp_path / "site.tsv"
    site.write_text("# staff roster and our sites\nNAME\tMargaret Okafor\nNAME\tOkafor\n"
                    "HOSPITAL\tWexcombe\nHOSPITAL\tNWH\n", encoding="utf-8")
    terms = load_terms(site)
    assert terms == {"NAME": ["Margaret Okafor", "Okafor"], "HOSPITAL": ["Wexcombe", "NWH"]}
    text = "okafor in to see pt, moved to wexcombe; f/u at NWH. Foley draining."
    plain = {text[s.start:s.end] for s in Deidentifier().find(text)}
    assert "okafor" not in plain  # no rule can know this lower-case surname
    found = {text[s.start:s.end]: s.label for s in Deidentifier(terms=terms).find(text)}
    assert found == {"okafor": "NAME", "wexcombe": "HOSPITAL", "NWH": "HOSPITAL"}
    # consistent surrogates for roster names too
    d = Deidentifier("surrogate", key=KEY, terms=terms)
    a, _ = d.deidentify("okafor aware.", patient="p1")
    b, _ = d.deidentify("Okafor aware.", patient="p1")
    assert a.split()[0].lower() == b.split()[0].lower() != "okafor"
    site.write_text("NAME Okafor\n", encoding="utf-8")
    with pytest.raises(DataError, match="LABEL<TAB>phrase"):
        load_terms(site)
