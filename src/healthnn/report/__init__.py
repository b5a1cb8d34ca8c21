"""The model report: ``report.json`` (every number and curve) and a self-contained
``report.html`` (Model Facts, TRIPOD+AI checklist, metrics, plots, subgroups, Table 1, shift,
feature importance, recalibration).

Written at the end of :func:`healthnn.train` (into the bundle) and :func:`healthnn.evaluate`
(into its output folder), each with one call into this package, and re-rendered from the
stored files by ``healthnn report DIR`` (no raw data needed).

Two stages keep numbers consistent: *building* computes aggregates from the live run into
report.json (see :mod:`healthnn.report.build`); *rendering* reads only report.json and
metrics.json (see :mod:`healthnn.report.render`). Metric values and intervals always come from
metrics.json. Tasks contribute through hooks on :class:`healthnn.tasks.base.Task`
(``report_facts``, ``report_columns``, ``class_probabilities``, ``report_sections``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthnn.errors import BundleError

__all__ = ["write_train_report", "write_evaluation_report", "render_report"]

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
RECALIBRATION_JSON = "recalibration.json"


def _stderr(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


def write_train_report(bundle: Any, *, frames: dict, outputs: dict,
                       log: Callable[[str], None] | None = None) -> Path | None:
    """Build and write report.json and report.html into a freshly saved bundle.

    With ``[report] recalibrate`` set, also fits the recalibration map on the validation
    outputs, writes it to recalibration.json and adds ``test_recalibrated`` to metrics.json.
    Returns the HTML path (None when ``[report] enabled = false``).
    """
    from healthnn.bundle_files import write_bundle_file
    from healthnn.io import json_ready
    from healthnn.report.build import build_train_report

    if not bundle.config.report.enabled:
        return None
    log = log or _stderr

    def put(name: str, obj: Any) -> None:  # sealed as written in an encrypted bundle
        text = json.dumps(json_ready(obj), indent=2) + "\n"
        write_bundle_file(bundle.path, name, text.encode("utf-8"), bundle.key)

    try:
        rep, state = build_train_report(bundle, frames=frames, outputs=outputs, log=log)
        if state is not None:
            put(RECALIBRATION_JSON, state)
            put("metrics.json", bundle.metrics)
        put(REPORT_JSON, rep)
        return render_report(bundle.path, key=bundle.key)
    except Exception as exc:  # noqa: BLE001 - never lose a trained bundle to its report
        log(f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
            "the bundle itself is complete")
        return None


def write_evaluation_report(out: str | Path, bundle: Any, *, df, y, outputs, metrics: dict,
                            evaluation: dict, file: Path,
                            log: Callable[[str], None] | None = None) -> Path | None:
    """Build and write report.json and report.html for ``healthnn evaluate`` into ``out``
    (metrics.json there already written; rewritten when recalibrated metrics are added)."""
    from healthnn.bundle import write_json
    from healthnn.report.build import build_evaluation_report

    if not bundle.config.report.enabled:
        return None
    out = Path(out)
    log = log or _stderr
    try:
        rep = build_evaluation_report(bundle, df=df, y=y, outputs=outputs, metrics=metrics,
                                      evaluation=evaluation, file=file, log=log)
        if "test_recalibrated" in metrics:
            write_json(out / "metrics.json", metrics)
        write_json(out / REPORT_JSON, rep)
        return render_report(out)
    except Exception as exc:  # noqa: BLE001 - metrics and predictions are already written
        log(f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
            "metrics.json and predictions.csv are complete")
        return None


def render_report(directory: str | Path, out: str | Path | None = None, *,
                  key: bytes | None = None) -> Path:
    """(Re)write ``report.html`` in ``directory`` (or ``out``) from the directory's
    report.json and metrics.json; returns the HTML path. In a bundle the new report.html
    is recorded in its integrity list (sealed with ``key`` in an encrypted bundle)."""
    from healthnn.bundle_files import write_bundle_file
    from healthnn.io import write_text
    from healthnn.privacy.encryption import read_bundle_file
    from healthnn.report.render import render_html

    directory = Path(directory)
    files = {}
    for name in (REPORT_JSON, "metrics.json"):
        path = directory / name
        try:
            files[name] = json.loads(read_bundle_file(directory, name, key).decode("utf-8"))
        except FileNotFoundError:
            raise BundleError(f"{name} is missing", file=str(directory),
                              hint="pass a bundle written by 'healthnn train' or an output "
                              "folder of 'healthnn evaluate' (healthnn 0.1 or later)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"cannot read: {exc}", file=str(path)) from None
    html = render_html(files[REPORT_JSON], files["metrics.json"])
    if out is None:
        write_bundle_file(directory, REPORT_HTML, html.encode("utf-8"), key)
        return directory / REPORT_HTML
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, html)
    return out
