"""Every relative link in the README and docs/ points at a file that exists and, with a #fragment,
at a heading of that file (GitHub's anchors: lower case, punctuation other than - and _ dropped,
spaces as -, a repeated heading numbered -1, -2, ...). Links inside code are not links."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "dbt_macros" / "README.md", *(ROOT / "docs").glob("*.md")])

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked."""
    lines, fence = [], None
    for line in text.splitlines():
        marker = re.match(r"^\s*(```+|~~~+)", line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0] * 3
            elif marker.group(1).startswith(fence):
                fence = None
            lines.append("")
            continue
        lines.append("" if fence else re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m.group(0)), line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation go, letters, digits, - and _ stay."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    text = path.read_text()
    fenced = prose(text)
    for raw, outside in zip(text.splitlines(), fenced):
        if not outside.strip():
            continue
        match = HEADING.match(raw)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(prose(path.read_text()), 1):
        for match in LINK.finditer(line):
            found.append((number, match.group(1)))
    return found


def broken(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            problems.append(f"{where}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            problems.append(f"{where}: no heading with anchor #{fragment} in {linked.relative_to(ROOT)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken(page) == []


def test_the_checker_sees_a_broken_file_and_a_broken_anchor(tmp_path, monkeypatch):
    """The check itself can fail: a missing file, a missing heading; code is not checked."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Keys (`hash`, `pseudonym`)\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# A: b's c\n\n[ok](other.md#keys-hash-pseudonym) [ok](#a-bs-c) [ok](other.md#twice-1)\n"
        "[gone](missing.md) [gone](other.md#nope) `[code](nowhere.md)`\n\n```\n[code](nowhere.md)\n# not a heading\n```\n"
        "[gone](#not-a-heading)\n"
    )
    assert broken(page) == [
        "page.md:4: missing.md: no such file",
        "page.md:4: other.md#nope: no heading with anchor #nope in other.md",
        "page.md:10: #not-a-heading: no heading with anchor #not-a-heading in page.md",
    ]
