"""Draw the plot specs of report sections (see :mod:`healthnn.report.sections`) as PNG images
with matplotlib's Agg backend, returned base64-encoded for inline ``<img>`` tags."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

__all__ = ["plot_png"]

_COLOURS = ["#1f5f8b", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50", "#16a085"]


def _arr(v: Any) -> np.ndarray:
    return np.asarray([np.nan if x is None else x for x in (v or [])], dtype=float)


def _figure(has_hist: bool):
    from matplotlib.figure import Figure  # no pyplot: no global backend or state

    if has_hist:
        fig = Figure(figsize=(4.6, 4.4), dpi=90)
        gs = fig.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0.08)
        ax = fig.add_subplot(gs[0])
        hx = fig.add_subplot(gs[1], sharex=ax)
        return fig, ax, hx
    fig = Figure(figsize=(4.6, 3.6), dpi=90)
    return fig, fig.add_subplot(1, 1, 1), None


def _lines(spec: dict[str, Any]):
    hist = spec.get("hist")
    only_hist = hist is not None and not spec.get("series")
    fig, ax, hx = _figure(hist is not None and not only_hist)
    if only_hist:
        hx = ax
    for i, s in enumerate(spec.get("series", [])):
        x, y = _arr(s.get("x")), _arr(s.get("y"))
        colour = _COLOURS[i % len(_COLOURS)]
        style = s.get("style", "line")
        if s.get("lo") is not None and s.get("hi") is not None:
            lo, hi = _arr(s["lo"]), _arr(s["hi"])
            if style == "points":
                err = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
                ax.errorbar(x, y, yerr=err, fmt="none", ecolor=colour, alpha=0.6, capsize=2)
            else:
                ax.fill_between(x, lo, hi, color=colour, alpha=0.18, linewidth=0,
                                step="post" if style == "step" else None)
        if style == "points":
            ax.plot(x, y, "o-", color=colour, label=s.get("label"), markersize=4, linewidth=1)
        elif style == "step":
            ax.step(x, y, where="post", color=colour, label=s.get("label"), linewidth=1.5)
        elif style == "dashed":
            ax.plot(x, y, "--", color=colour if i else "#555", label=s.get("label"),
                    linewidth=1.2)
        else:
            ax.plot(x, y, "-", color=colour, label=s.get("label"), linewidth=1.6)
    if spec.get("diagonal"):
        lim = spec.get("xlim") or ax.get_xlim()
        ax.plot(lim, lim, ":", color="#888", linewidth=1, label="ideal / chance")
    if spec.get("xlim"):
        ax.set_xlim(*spec["xlim"])
    if spec.get("ylim"):
        ax.set_ylim(*spec["ylim"])
    if hist is not None:
        edges, counts = _arr(hist["edges"]), _arr(hist["counts"])
        hx.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#95a5a6",
               edgecolor="white", linewidth=0.5)
        hx.set_ylabel("rows" if not only_hist else spec.get("ylabel", "rows"), fontsize=8)
        hx.tick_params(labelsize=7)
        if hx is not ax:
            ax.tick_params(labelbottom=False)
    (hx if hx is not None and hx is not ax else ax).set_xlabel(spec.get("xlabel", ""),
                                                                fontsize=8)
    if not only_hist:
        ax.set_ylabel(spec.get("ylabel", ""), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(spec.get("title", ""), fontsize=9)
    ax.grid(alpha=0.25)
    if spec.get("series") and any(s.get("label") for s in spec["series"]):
        ax.legend(fontsize=7, loc="best", frameon=False)
    return fig


def _bars(spec: dict[str, Any]):
    bars = spec.get("bars", [])
    fig, ax, _ = _figure(False)
    fig.set_size_inches(4.6, max(1.6, 0.28 * len(bars) + 1.0))
    y = np.arange(len(bars))[::-1]
    vals = _arr([b.get("value") for b in bars])
    ax.barh(y, vals, color="#1f5f8b", alpha=0.85, height=0.6)
    lo = _arr([b.get("lo") for b in bars])
    hi = _arr([b.get("hi") for b in bars])
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        ax.errorbar(vals[ok], y[ok], xerr=err[:, ok], fmt="none", ecolor="#333", capsize=2)
    if spec.get("reference") is not None:
        ax.axvline(spec["reference"], color="#c0392b", linestyle="--", linewidth=1)
    ax.set_yticks(y, [str(b.get("label")) for b in bars], fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_xlabel(spec.get("xlabel", ""), fontsize=8)
    ax.set_title(spec.get("title", ""), fontsize=9)
    ax.grid(axis="x", alpha=0.25)
    fig.tight_layout()
    return fig


def plot_png(spec: dict[str, Any]) -> str | None:
    """Base64 PNG of one plot spec; None for an unknown kind."""
    kind = spec.get("kind")
    if kind == "image":
        return spec.get("png_base64")
    if kind == "lines":
        fig = _lines(spec)
    elif kind == "bars":
        fig = _bars(spec)
    else:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")
