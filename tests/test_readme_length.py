"""The README stays a front page (issue 19): what the project is, the two commands, what works,
the architecture, Deploy, and an index of docs/. Everything deeper lives in docs/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 300


def test_the_readme_has_at_most_300_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES}): move whole sections into docs/ and link them"


def test_the_readme_indexes_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    missing = [page.name for page in sorted((ROOT / "docs").glob("*.md")) if f"](docs/{page.name})" not in readme]
    assert missing == [], f"docs pages the README's Documentation index does not link: {missing}"
