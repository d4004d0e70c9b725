"""One comparison for people and groups: principals, group names, approvers, self-approval.

A name is compared by its canonical form: Unicode NFKC (full-width and compatibility letters
become plain ones), then case-folded (``ß`` -> ``ss``, ``ALICE`` -> ``alice``).

    >>> canonical("ＡＬＩＣＥ@Corp")
    'alice@corp'
    >>> same_principal("ALICE", "alice")
    True

Canonical forms do not catch look-alikes from other scripts (Cyrillic ``а`` in ``аlice``), so a
name that decides something (an approver) must also be ``plain_name``: no invisible, control or
format characters, no surrounding spaces, letters from one script only.

    >>> unplain_reason("\u0430lice")
    'mixes letters of the CYRILLIC and LATIN scripts'
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from typing import Iterable


def canonical(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def same_principal(left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return False
    return canonical(left) == canonical(right)


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(canonical(pattern)))


def principal_matches(pattern: str, name: str) -> bool:
    """A principal glob (``*@corp``, ``svc:*``) against a name, both canonical."""
    return _compiled(pattern).match(canonical(name)) is not None


def in_groups(group: str, groups: Iterable[str]) -> bool:
    wanted = canonical(group)
    return any(canonical(member) == wanted for member in groups)


def unplain_reason(name: str) -> str | None:
    """Why ``name`` cannot identify someone who decides (None when it can)."""
    if not name or name != name.strip():
        return "is empty or has surrounding spaces"
    scripts: set[str] = set()
    for char in unicodedata.normalize("NFKC", name):
        category = unicodedata.category(char)
        if category[0] in "CZ" and char != " ":
            return f"contains the invisible or control character U+{ord(char):04X}"
        if category[0] == "L":
            scripts.add(_script(char))
    if len(scripts) > 1:
        return "mixes letters of the " + " and ".join(sorted(scripts)) + " scripts"
    return None


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name (``CYRILLIC SMALL LETTER A`` -> ``CYRILLIC``)."""
    name = unicodedata.name(char, "UNKNOWN")
    for prefix in ("CJK", "HANGUL", "HIRAGANA", "KATAKANA"):
        if name.startswith(prefix):
            return "CJK"  # Japanese and Korean names mix these legitimately
    return name.split(" ", 1)[0]
