"""The documentation site (issue 24): it builds with --strict (links, API reference), its
reference pages match the code, its examples run, and its commands exist."""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from healthnn.cli import build_parser
from healthnn.reference import PAGES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES_MD = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("name", list(PAGES))
def test_generated_reference_pages_are_up_to_date(name):
    page = DOCS / "reference" / name
    assert page.read_text(encoding="utf-8") == PAGES[name](), (
        f"{page} is out of date: run `python -m healthnn.reference docs/reference`")


def test_site_builds_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # no -q: it hides the warnings (a broken link or anchor) from the count that --strict fails on
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "-d", str(tmp_path / "site")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "reference" / "api" / "index.html").is_file()


@pytest.mark.parametrize("page", PAGES_MD, ids=lambda p: str(p.relative_to(DOCS)))
def test_examples_in_the_docs_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    blocks = [body for lang, body in FENCE.findall(page.read_text(encoding="utf-8"))
              if lang in ("python", "pycon") and ">>>" in body]
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict = {}  # one namespace per page: later blocks use earlier ones' names
    for body in blocks:
        runner.run(parser.get_doctest(body, globs, page.name, str(page), 0), clear_globs=False)
    assert runner.failures == 0, f"{runner.failures} example(s) failed in {page}"


def _commands(text: str) -> list[str]:
    lines = []
    for lang, body in FENCE.findall(text):
        if lang not in ("bash", "sh", "console"):
            continue
        for line in body.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("healthnn "):
                lines.append(line)
    return lines


def test_every_command_in_the_docs_parses():
    parser = build_parser()
    seen = 0
    for page in PAGES_MD:
        for line in _commands(page.read_text(encoding="utf-8")):
            argv = [a for a in shlex.split(line)[1:]]
            try:
                parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"{page.relative_to(DOCS)}: `{line}` does not parse")
            seen += 1
    assert seen >= 10


def test_every_config_in_the_docs_loads():
    """A TOML block with a task is a config a reader will copy: it must parse as written."""
    import tomllib

    from healthnn.config import load_config

    seen = 0
    for page in PAGES_MD:
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang == "toml" and re.search(r"(?m)^task = ", body):
                load_config(tomllib.loads(body), base_dir=DOCS)
                seen += 1
    assert seen >= 5


def test_results_page_numbers_come_from_the_history():
    """BENCHMARKS.md summarises docs/benchmarks/history.md: it may drop numbers, never invent one."""
    number = re.compile(r"\d+(?:[.,]\d+)*")
    history = set(number.findall((DOCS / "benchmarks" / "history.md").read_text(encoding="utf-8")))
    results = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    missing = sorted(set(number.findall(results)) - history)
    assert not missing, f"numbers in BENCHMARKS.md that are not in history.md: {missing}"
