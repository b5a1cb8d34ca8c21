"""The web page in a real headless Chromium: sign in with a key, submit every form, read what
is shown."""

from __future__ import annotations

import json

import pytest
from browser import Page, find_chromium
from image_helpers import synthetic, write_png

CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install "
                    "chromium; .ci/run does this)")
def test_clinician_page_end_to_end(server, api_keys, tmp_path):
    png = write_png(tmp_path / "chest.png", synthetic(1, seed=11))
    with Page(CHROMIUM) as page:
        page.goto(server.url + "/")
        assert page.js("document.title") == "healthnn"

        # a wrong key is refused with a message
        page.js("document.getElementById('api-key').value = 'hnn_00000000_wrongwrongwrongwrong'")
        page.js("document.getElementById('login-button').click()")
        page.wait("document.getElementById('login-error').textContent.includes('401')")

        page.js(f"document.getElementById('api-key').value = {json.dumps(api_keys.full)}")
        page.js("document.getElementById('login-button').click()")
        page.wait("document.body.dataset.ready === '1'")
        options = page.js("Array.from(document.querySelectorAll('#model option'))"
                          ".map(o => o.value)")
        assert sorted(options) == ["esol", "heart", "xray"]

        # table model: fill the patient values, predict, explain
        select(page, "heart")
        labels = page.js("Array.from(document.querySelectorAll('#input-form label'))"
                         ".map(l => l.textContent)")
        assert sorted(labels) == ["age", "bmi", "sex", "smoker"]
        fill(page, "age", "71")
        fill(page, "smoker", "current")
        page.js("document.getElementById('predict-button').click()")
        page.wait("document.getElementById('prediction-table')")
        text = page.js("document.getElementById('result').innerText")
        assert "prob_1" in text and "prediction" in text
        # the conformal prediction set sits beside the predicted class, and is explained
        shown = page.js("Array.from(document.querySelectorAll('#prediction-table tr'))"
                        ".map(r => Array.from(r.cells).map(c => c.textContent))")
        pred_row = next(r for r in shown if r[0] == "prediction")
        assert pred_row[2].startswith("90% set: {") and pred_row[1] in pred_row[2]
        assert not any(r[0] == "set" for r in shown)  # not listed as an output of its own
        note = page.js("document.getElementById('uncertainty-note').textContent")
        assert "split-conformal" in note and "Single model" in note
        page.js("document.getElementById('explain-button').click()")
        page.wait("document.querySelectorAll('#contributions .bar-row').length === 4")
        assert "Contributions to prob_1" in page.js(
            "document.getElementById('contributions').innerText")

        # a bad value: the row's reason is shown, no crash
        fill(page, "age", "seventy")
        page.js("document.getElementById('predict-button').click()")
        page.wait("document.getElementById('row-error')")
        assert "expected a number" in page.js("document.getElementById('row-error').textContent")

        # image model: upload, predict, Grad-CAM overlay
        select(page, "xray")
        page.set_files("#f-file", [png])
        page.js("document.getElementById('predict-button').click()")
        page.wait("document.getElementById('prediction-table')")
        assert "prob_pneumonia" in page.js("document.getElementById('result').innerText")
        page.js("document.getElementById('explain-button').click()")
        page.wait("document.querySelector('#explanation img')")
        page.wait("document.querySelector('#explanation img').complete")
        size = page.js("(() => { const i = document.querySelector('#explanation img');"
                       " return [i.naturalWidth, i.naturalHeight]; })()")
        assert size[0] > 0 and size[1] > 0

        # molecule: type a SMILES, predict, drawn molecule
        select(page, "esol")
        page.js("document.getElementById('f-main').value = 'c1ccccc1O'")
        page.js("document.getElementById('predict-button').click()")
        page.wait("document.getElementById('prediction-table')")
        assert "pred_logS" in page.js("document.getElementById('result').innerText")
        shown = page.js("Array.from(document.querySelectorAll('#prediction-table tr'))"
                        ".map(r => Array.from(r.cells).map(c => c.textContent))")
        logs = next(r for r in shown if r[0] == "pred_logS")
        lo, hi = (float(x) for x in logs[2].split("interval: [")[1].rstrip("]").split(", "))
        assert lo < float(logs[1]) < hi
        page.js("document.getElementById('explain-button').click()")
        page.wait("document.querySelector('#explanation img[alt$=\".svg\"]')")
        page.wait("document.querySelector('#explanation img').naturalWidth > 0")

        # de-identify box
        page.js("document.getElementById('deid-text').value = "
                "'Pt seen 03/14/2024, call 617-555-0199.'")
        page.js("document.getElementById('deid-button').click()")
        page.wait("document.getElementById('deid-spans').textContent.includes('Removed')")
        out = page.js("document.getElementById('deid-result').textContent")
        assert "617-555-0199" not in out and "[PHONE]" in out and "[DATE]" in out
        assert page.exceptions() == []


def select(page: Page, name: str) -> None:
    page.js(f"(() => {{ const s = document.getElementById('model'); s.value = {json.dumps(name)};"
            " s.dispatchEvent(new Event('change')); })()")


def fill(page: Page, column: str, value: str) -> None:
    page.js(f"document.querySelector('[data-column={json.dumps(column)}]').value = "
            f"{json.dumps(value)}")
