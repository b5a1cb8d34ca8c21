"""``healthnn deid-review`` end to end: sample -> the reviewer edits the annotations -> score,
and the review page in a real headless Chromium (issue 18)."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest
from browser import Page, find_chromium

from healthnn.cli import main

STYLES = {
    "message": "Hi Dr. Whitcombe, pt Oksana Brandvold asks if she can stop her apixaban before "
               "the dental work on 4/{d}/2023. Her cell is 508-555-01{d:02d}. Thanks, Lorna",
    "letter": "Dear Dr. Pellegrino,\nI saw Mr. Teodor Vasquez (MRN 88{d:04d}) on 2/{d}/2022 "
              "for follow-up of atrial fibrillation. He remains on metoprolol 25 mg.\n"
              "Kind regards,\nDr. Annika Solberg",
    "referral": "Referral: 71 yo F, seen {d} March 2021. Lives in Framingham. Please evaluate "
                "for knee replacement. No PHI-free text here besides this sentence.",
}
SECRETS = ["Oksana", "Brandvold", "Teodor", "Vasquez", "Whitcombe", "508-555-01"]


@pytest.fixture()
def notes(tmp_path):
    rows = [{"kind": k, "note": t.format(d=d + 1)} for d in range(12) for k, t in STYLES.items()]
    path = tmp_path / "notes.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def cli(capsys, *argv):
    code = main(["deid-review", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_edit_score_end_to_end(notes, tmp_path, capsys):
    rev = tmp_path / "review"
    code, out, err = cli(capsys, "sample", notes, "--n", 9, "--out", rev, "--column", "note",
                         "--strata-column", "kind", "--seed", 7)
    assert code == 0, err
    assert "sampled 9 of 36 notes" in out and "3 strata" in out
    docs = [json.loads(x) for x in (rev / "annotations.jsonl").read_text().splitlines()]
    assert len(docs) == 9
    # the reviewer marks, in every other note, one word the de-identifier left (the first) as
    # a NAME it missed, and removes one detection (a false positive, says the reviewer)
    missed, removed = [], 0
    for d in docs[::2]:
        spans = d["spans"]
        word = next(m for m in re.finditer(r"[A-Za-z]+", d["text"])
                    if not any(s["start"] < m.end() and m.start() < s["end"] for s in spans))
        missed.append(word.group())
        if spans:
            spans.pop()
            removed += 1
        spans.append({"start": word.start(), "end": word.end(), "label": "NAME"})
        d["spans"] = sorted(spans, key=lambda s: s["start"])
    done = tmp_path / "done.jsonl"
    done.write_text("".join(json.dumps(d) + "\n" for d in docs))
    code, out, err = cli(capsys, "score", rev, done, "--resamples", 200)
    assert code == 0, err
    saved = json.loads((rev / "score.json").read_text())
    assert saved["leaked_spans"] == 5 and saved["by_type"]["NAME"]["leaked"] == 5
    assert saved["detections"] - removed == saved["reviewer_spans"] - 5
    m = saved["metrics"]
    assert m["token_recall"]["value"] < 1 and m["token_precision"]["value"] < 1
    assert m["token_recall"]["ci_low"] <= m["token_recall"]["value"] <= m["token_recall"]["ci_high"]
    assert "5 leaked" in out and "token_recall" in out and "NAME" in out
    leaks = (rev / "worst_leaks.html").read_text()
    assert leaks.count("mark class='phi leak") == 5
    # nothing of the notes on the terminal
    for word in SECRETS:
        assert word not in out + err
    assert not any(re.search(rf"\b{w}\b", out + err) for w in set(missed) - {"NAME"})
    # a mismatched annotation file is one clear line naming the note and the line
    docs[4]["text"] = docs[4]["text"].replace("Dr.", "Dr")
    done.write_text("".join(json.dumps(d) + "\n" for d in docs))
    code, out, err = cli(capsys, "score", rev, done)
    assert code == 2 and "row 5" in err and "note-0005" in err and "differs" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="Chromium not installed (apt-get install chromium; .ci/run does "
                           "this)")
def test_review_page_highlights_render_in_chromium(notes, tmp_path, capsys):
    rev = tmp_path / "review"
    assert cli(capsys, "sample", notes, "--n", 6, "--out", rev, "--column", "note")[0] == 0
    det = [json.loads(x) for x in (rev / "detections.jsonl").read_text().splitlines()]
    n_spans = sum(len(d["spans"]) for d in det)
    assert n_spans > 0
    with Page(CHROMIUM) as page:
        page.goto((rev / "review.html").resolve().as_uri())
        assert page.js("document.querySelectorAll('section.note').length") == 6
        assert page.js("document.querySelectorAll('mark.phi').length") == n_spans
        marks = page.js("""Array.from(document.querySelectorAll('mark.phi')).map(m => ({
            label: m.dataset.label, text: m.textContent,
            bg: getComputedStyle(m).backgroundColor,
            badge: getComputedStyle(m, '::after').content,
            w: m.getBoundingClientRect().width}))""")
        want = [(s["label"], d["text"][s["start"]:s["end"]]) for d in det for s in d["spans"]]
        assert [(m["label"], m["text"]) for m in marks] == want
        for m in marks:  # highlighted, visible, and labelled by type
            assert m["bg"] not in ("rgba(0, 0, 0, 0)", "transparent") and m["w"] > 0, m
            assert m["badge"] == json.dumps(m["label"]), m
        colours = {m["label"]: m["bg"] for m in marks}
        if len(colours) > 1:  # types are told apart by colour
            assert len(set(colours.values())) > 1
        # the whole note is there, in order: the page text without badges is the note text
        shown = page.js("Array.from(document.querySelectorAll('pre.text'))"
                        ".map(p => p.textContent)")
        assert shown == [d["text"] for d in det]
        # nothing was fetched from anywhere and no script ran (the page has none)
        assert page.js("document.scripts.length") == 0
        assert page.js("performance.getEntriesByType('resource').length") == 0
        assert page.exceptions() == []
    # the worst-leaks page: a planted leak shows in red, above its type's colour
    docs = [json.loads(x) for x in (rev / "annotations.jsonl").read_text().splitlines()]
    word = next(m for m in re.finditer(r"[A-Za-z]+", docs[0]["text"])
                if not any(s["start"] < m.end() and m.start() < s["end"] for s in docs[0]["spans"]))
    docs[0]["spans"] = sorted(docs[0]["spans"] + [{"start": word.start(), "end": word.end(),
                                                    "label": "NAME"}], key=lambda s: s["start"])
    done = tmp_path / "done.jsonl"
    done.write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert cli(capsys, "score", rev, done, "--resamples", 0)[0] == 0
    with Page(CHROMIUM) as page:
        page.goto((rev / "worst_leaks.html").resolve().as_uri())
        leaks = page.js("""Array.from(document.querySelectorAll('mark.leak')).map(m => ({
            text: m.textContent, bg: getComputedStyle(m).backgroundColor}))""")
        assert leaks == [{"text": word.group(), "bg": "rgb(255, 107, 107)"}]
        assert page.js("performance.getEntriesByType('resource').length") == 0
