"""Self-contained HTML with token attributions highlighted over the original text."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

__all__ = ["attribution_html"]

_STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.6}
.doc{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}
.doc h2{font-size:1rem;margin:0 0 .5rem}.err{color:#a00}
.legend span{padding:0 .4rem;margin-right:.5rem}mark{padding:0 1px;border-radius:2px}"""


def _colour(w: float) -> str:
    a = min(abs(w), 1.0) * 0.75
    return f"rgba(220,40,40,{a:.2f})" if w >= 0 else f"rgba(40,90,220,{a:.2f})"


def attribution_html(blocks: Sequence[tuple], *, title: str) -> str:
    """``blocks``: ``(row, class, probability, offsets, scores, text_or_error)``; a block
    without a class is a row that could not be explained (its last item is the reason)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             "<p class='legend'><span style='background:rgba(220,40,40,.6)'>towards the class"
             "</span><span style='background:rgba(40,90,220,.6)'>away from it</span> "
             "Colour strength: attribution relative to the document's largest. Text after the "
             "model's token limit is shown without colour.</p>"]
    for row, cls, prob, offsets, scores, text in blocks:
        if cls is None:
            parts.append(f"<div class='doc'><h2>row {row}</h2><p class='err'>"
                         f"{html.escape(str(text))}</p></div>")
            continue
        scores = np.asarray(scores, dtype=float)
        scale = float(np.abs(scores).max()) if len(scores) else 0.0
        scale = scale or 1.0
        out, pos = [], 0
        for (s, e), w in zip(offsets, scores, strict=False):
            if s < pos or e <= s:
                continue
            out.append(html.escape(text[pos:s]))
            out.append(f"<mark style='background:{_colour(w / scale)}' title='{w:+.4f}'>"
                       f"{html.escape(text[s:e])}</mark>")
            pos = e
        out.append(html.escape(text[pos:]))
        parts.append(f"<div class='doc'><h2>row {row}: {html.escape(str(cls))} "
                     f"(probability {prob:.3f})</h2><p>{''.join(out)}</p></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
