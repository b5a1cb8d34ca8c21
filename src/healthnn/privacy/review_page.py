"""The self-contained HTML pages of ``healthnn deid-review``: the review page and the worst leaks.

Inline CSS only; no scripts, fonts or images, and a Content-Security-Policy that forbids loading
anything, so the page shows the same offline and sends nothing anywhere. Every piece of text is
HTML-escaped. The pages hold PHI and are written only into the review folder.

>>> page = review_html([{"id": "note-0001", "row": 3, "stratum": "short",
...     "text": "Seen by <Dr> Ann Lee", "spans": [{"start": 13, "end": 20, "label": "NAME"}]}],
...     {"n_sampled": 1})
>>> "&lt;Dr&gt; <mark class='phi l-NAME' data-label='NAME' title='NAME 13-20'>Ann Lee</mark>" in page
True
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["review_html", "leaks_html", "highlight", "LABEL_COLOURS"]

LABEL_COLOURS = {
    "NAME": "#ffb3b3", "DATE": "#b3d9ff", "AGE": "#ffd9b3", "PHONE": "#d9b3ff",
    "EMAIL": "#e6ccff", "SSN": "#ff8080", "ID": "#ffe680", "ADDRESS": "#b3ffcc",
    "CITY": "#99e6b3", "ZIP": "#ccffdd", "HOSPITAL": "#ffccf2", "ORGANIZATION": "#f2d9e6",
    "URL": "#cce0ff", "IP": "#d6d6f5",
}
OTHER = "#dddddd"
CSP = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE = """body{font-family:system-ui,sans-serif;max-width:62rem;margin:1.5rem auto;padding:0 1rem}
.warn{background:#fff3cd;border:1px solid #e0c36a;padding:.5rem .8rem;border-radius:4px}
.note{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.note h2{font-size:.95rem;margin:0 0 .4rem;color:#333}.meta{color:#666;font-weight:normal}
pre.text{white-space:pre-wrap;word-wrap:break-word;font:0.9rem/1.55 ui-monospace,monospace;margin:0}
mark.phi{padding:0 1px;border-radius:2px;color:#000}
mark.phi::after{content:attr(data-label);font:bold .6rem sans-serif;vertical-align:super;
 margin-left:2px;color:#444}
mark.phi.leak{background:#ff6b6b;outline:2px solid #b30000}
.legend span{display:inline-block;padding:0 .4rem;margin:.15rem .3rem .15rem 0;border-radius:3px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
"""


def _css_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", label)


def _label_css(labels: Sequence[str]) -> str:
    rules = [f"mark.l-{_css_name(lab)}{{background:{LABEL_COLOURS.get(lab, OTHER)}}}"
             for lab in sorted(set(labels))]
    return "\n".join(rules)


def highlight(text: str, spans: Sequence[Mapping[str, Any]], *, css: str = "phi",
              offsets: bool = False) -> str:
    """``text`` escaped, each (sorted, non-overlapping) span wrapped in a ``<mark>``; with
    ``offsets`` its tooltip also gives its character offsets (for editing span JSONL)."""
    out, pos = [], 0
    for sp in sorted(spans, key=lambda s: (s["start"], s["end"])):
        s, e, lab = sp["start"], sp["end"], str(sp["label"])
        if s < pos:
            continue
        q = html.escape(lab, quote=True)
        tip = f"{q} {s}-{e}" if offsets else q
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark class='{css} l-{_css_name(lab)}' data-label='{q}' title='{tip}'>"
                   f"{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _head(title: str, labels: Sequence[str]) -> str:
    t = html.escape(title)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<meta name='robots' content='noindex'><title>{t}</title>"
            f"<style>{_STYLE}{_label_css(labels)}</style></head><body><h1>{t}</h1>"
            "<p class='warn'>This page shows protected health information. Keep it in the "
            "review folder (readable by you only); do not copy, print or send it.</p>")


def _legend(counts: Counter) -> str:
    items = "".join(f"<span class='l-{_css_name(lab)}' style='background:"
                    f"{LABEL_COLOURS.get(lab, OTHER)}'>{html.escape(lab)}: {n}</span>"
                    for lab, n in sorted(counts.items()))
    return f"<p class='legend'>Detections by type: {items or 'none'}</p>"


def review_html(docs: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any]) -> str:
    """The review page: instructions, a legend, then every sampled note with its detections."""
    counts = Counter(sp["label"] for d in docs for sp in d["spans"])
    parts = [_head(f"De-identification review: {len(docs)} notes", list(counts)),
             "<p>Every highlight is a detection of the de-identifier, labelled with its PHI "
             "type. Read each note in full and correct <code>annotations.jsonl</code> (or the "
             "files in <code>brat/</code>): add every PHI it missed, delete spans that are not "
             "PHI, fix labels and boundaries (a span is <code>{\"start\", \"end\", "
             "\"label\"}</code> in characters from the note's start, counted from 0; hover "
             "a highlight to see its offsets). Then run <code>healthnn deid-review score "
             "REVIEW_FOLDER REVIEW_FOLDER/annotations.jsonl</code>.</p>",
             f"<p>Stratified by {html.escape(str(manifest.get('stratified_by', '?')))}; "
             f"seed {html.escape(str(manifest.get('seed', '?')))}.</p>", _legend(counts)]
    for d in docs:
        meta = (f"row {html.escape(str(d.get('row', '?')))} &middot; "
                f"{html.escape(str(d.get('stratum', '')))} &middot; {len(d['spans'])} "
                "detection(s)")
        parts.append(f"<section class='note' id='{html.escape(d['id'], quote=True)}'>"
                     f"<h2>{html.escape(d['id'])} <span class='meta'>{meta}</span></h2>"
                     f"<pre class='text'>{highlight(d['text'], d['spans'], offsets=True)}"
                     "</pre></section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def leaks_html(examples: Sequence[Mapping[str, Any]], *, context: int = 60) -> str:
    """The worst leaks: each missed PHI value in red with ``context`` characters around it.

    ``examples`` hold ``id``, ``label``, ``text`` (the note), ``start``, ``end``,
    ``uncovered`` (characters of it, spaces aside, the de-identifier left), ``n_chars`` (its
    characters, spaces aside) and ``detected_as`` (labels of detections overlapping it)."""
    labels = [str(x["label"]) for x in examples]
    parts = [_head(f"Worst leaks: {len(examples)} PHI values the de-identifier missed, wholly "
                   "or in part", labels),
             "<p>Ranked by how much of the value was left in the text (whole values first), "
             "then by type. Only for the reviewer: this file is never logged or printed.</p>",
             "<table><tr><th>#</th><th>note</th><th>type</th><th>left</th><th>in context</th>"
             "</tr>"]
    for k, x in enumerate(examples, start=1):
        text, s, e = x["text"], x["start"], x["end"]
        a, b = max(0, s - context), min(len(text), e + context)
        snippet = (("&hellip;" if a else "") + html.escape(text[a:s])
                   + highlight(text[s:e], [{"start": 0, "end": e - s, "label": x["label"]}],
                               css="phi leak")
                   + html.escape(text[e:b]) + ("&hellip;" if b < len(text) else ""))
        n = x.get("n_chars", e - s)
        left = "all" if x["uncovered"] == n else f"{x['uncovered']} of {n} characters"
        if x.get("detected_as"):
            left += " (partly as " + html.escape(", ".join(x["detected_as"])) + ")"
        parts.append(f"<tr><td>{k}</td><td>{html.escape(str(x['id']))}</td>"
                     f"<td>{html.escape(str(x['label']))}</td><td>{left}</td>"
                     f"<td><pre class='text'>{snippet}</pre></td></tr>")
    parts.append("</table></body></html>\n")
    return "".join(parts)
