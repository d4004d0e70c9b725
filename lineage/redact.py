"""Keep literal values out of the texts a ledger record carries besides the normalised SQL.

Finding messages quote parts of the statement, and database errors quote values, some
typed into the SQL and some read from the data (``invalid input syntax for type integer:
"123-45-6789"``). Two passes:

- ``scrub_literals`` replaces every literal value written in the statement (from
  ``lineage.fingerprint.literal_values``) wherever it appears;
- ``scrub_values`` (errors, and texts about statements that could not be parsed) also
  replaces every quoted text and every number, except quoted names the statement itself
  uses (tables, columns), and keeps the first line only (drivers append the statement).

    >>> scrub_values('invalid input syntax for type integer: "123-45-6789"\\nLINE 1: ...', set())
    'invalid input syntax for type integer: "?"'
    >>> scrub_literals("deletes every row of t (WHERE 'x' = 'x' is always true)", {"x"})
    "deletes every row of t (WHERE '?' = '?' is always true)"
"""

from __future__ import annotations

import re
from typing import Any, Iterable

_SHORT = 4  # values shorter than this are only replaced as whole words ("1" must not eat "t1")
_DOLLAR_QUOTED = re.compile(r"\$(\w*)\$.*?(?:\$\1\$|$)", re.S)
_SINGLE_QUOTED = re.compile(r"(?<!\w)[EeXxBbNnUu]?&?'(?:[^']|'')*(?:'|$)")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"]|"")*)(?:"|$)')
_NUMBER = re.compile(r"(?<![\w$])[-+]?\d+(?:[.,:/-]\d+)*(?:[eE][-+]?\d+)?(?!\w)")


def scrub_literals(text: str | None, literals: Iterable[str]) -> str | None:
    if not text:
        return text
    for value in sorted((value for value in literals if value), key=len, reverse=True):
        if len(value) >= _SHORT:
            text = text.replace(value, "?")
        else:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "?", text)
    return text


def scrub_values(text: str | None, names: Iterable[str]) -> str | None:
    if not text:
        return text
    known = {name.lower() for name in names if name}
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = _DOLLAR_QUOTED.sub("?", text)
    text = _SINGLE_QUOTED.sub("'?'", text)
    text = _DOUBLE_QUOTED.sub(lambda match: match.group(0) if _is_known(match.group(1), known) else '"?"', text)
    return _NUMBER.sub("?", text)


def scrub_tree(value: Any, literals: Iterable[str]) -> Any:
    """``scrub_literals`` over every string in a JSON-like value."""
    literals = tuple(literals)
    if isinstance(value, str):
        return scrub_literals(value, literals)
    if isinstance(value, dict):
        return {key: scrub_tree(item, literals) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_tree(item, literals) for item in value]
    return value


def _is_known(quoted: str, known: set[str]) -> bool:
    parts = [part for part in quoted.lower().split(".") if part]
    return bool(parts) and all(part in known for part in parts)
