"""Summaries split on lines and list items and down-weight administrative sentences
(issue 19 item 14), on a hand-written note."""

from __future__ import annotations

from healthnn.text.summarize import administrative, split_sentences, summarize

NOTE = """DISCHARGE SUMMARY
Name: John Doe
Date: 2024-03-02
Attending: Dr. Smith

History: 64-year-old man admitted with crushing chest pain radiating to the left arm.
He works at the harbour as a crane operator.
His wife can be reached at (555) 201-3344.
Troponin I peaked at 12.4 ng/mL and the ECG showed ST elevation in leads II, III and aVF.
Emergent catheterisation found a 95% occlusion of the right coronary artery, which was
stented with a drug-eluting stent.
Plan:
- aspirin 81 mg daily and ticagrelor 90 mg twice daily for 12 months
- atorvastatin 80 mg at night
- cardiac rehabilitation referral
"""


def test_header_lines_and_list_items_are_sentences_of_their_own():
    texts = [s.text for s in split_sentences(NOTE)]
    assert texts[:4] == ["DISCHARGE SUMMARY", "Name: John Doe", "Date: 2024-03-02",
                         "Attending: Dr. Smith"]
    # a sentence wrapped onto the next line (which goes on in lower case) stays whole
    assert ("Emergent catheterisation found a 95% occlusion of the right coronary artery, "
            "which was\nstented with a drug-eluting stent.") in texts
    assert "- atorvastatin 80 mg at night" in texts and "Plan:" in texts
    for s in split_sentences(NOTE):
        assert NOTE[s.start:s.end] == s.text


def test_administrative_sentences_are_not_chosen():
    assert administrative("His wife can be reached at (555) 201-3344.")
    assert administrative("He works at the harbour as a crane operator.")
    assert administrative("Name: John Doe")
    assert not administrative("Troponin I peaked at 12.4 ng/mL.")
    chosen = [s.text for s in summarize(NOTE, n_sentences=3)]
    assert len(chosen) == 3
    assert not any(administrative(c) for c in chosen), chosen
    assert any("Troponin" in c or "catheterisation" in c or "chest pain" in c for c in chosen)


def test_prose_without_line_breaks_is_unchanged():
    text = ("Patient admitted with chest pain. Troponin was elevated. "
            "ECG showed ST elevation and chest pain persisted. Discharged on aspirin.")
    assert [s.text for s in split_sentences(text)] == [
        "Patient admitted with chest pain.", "Troponin was elevated.",
        "ECG showed ST elevation and chest pain persisted.", "Discharged on aspirin."]
