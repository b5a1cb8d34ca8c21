"""MkDocs hooks for the documentation site.

The site's Benchmarks page is ``BENCHMARKS.md`` at the repository root, so that the results a
user reads on GitHub and on the site are one file and cannot drift apart. The page
``docs/benchmarks/index.md`` starts with a marker (the rest of it is a pointer for readers of the
repository); this hook replaces that page with the file's text and turns
its repository-relative links to the history page (``docs/benchmarks/history.md#...``) into
links relative to the page, which the strict build then checks, anchors included.
"""

from __future__ import annotations

from pathlib import Path

PAGE = "benchmarks/index.md"
MARKER = "<!-- include BENCHMARKS.md -->"


def results_page(root: Path) -> str:
    """Return ``BENCHMARKS.md`` with its links rewritten for ``docs/benchmarks/index.md``.

    Parameters
    ----------
    root : Path
        The repository root (the folder of ``mkdocs.yml``).

    Returns
    -------
    str
        The Markdown of the results page as the site shows it.
    """
    text = (root / "BENCHMARKS.md").read_text(encoding="utf-8")
    return text.replace("](docs/benchmarks/", "](").replace("](docs/", "](../")


def on_page_markdown(markdown, page, config, files, **kwargs):  # noqa: ARG001 (MkDocs API)
    """Show the results page in place of ``benchmarks/index.md`` when it starts with the marker."""
    if page.file.src_uri != PAGE or not markdown.startswith(MARKER):
        return markdown
    return results_page(Path(config.config_file_path).parent)
