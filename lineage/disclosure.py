"""What a decision may show outside ``lineage check``: its findings and statement, literals as ``?``.

A finding can quote its statement (``WHERE ssn = '123-45-6789' OR TRUE is always true``) and a
statement's literals can be values of classified columns. Task logs, OpenLineage events, the
ledger, approval requests and chat notifications are read by many people, so they carry these:

    shown_statement(decision)  -> "DELETE FROM crm.customers WHERE ssn = '?' OR TRUE"
    shown_findings(decision)   -> (Finding("delete_without_where", "... (WHERE ssn = '?' OR TRUE is always true)"),)

The literals of an unparseable statement are not known for sure: there every quoted text and
number goes, except quoted names the statement itself uses.

The texts a ledger record carries besides the normalised SQL go through the same scrubbers.
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
from dataclasses import replace
from typing import Any, Iterable

from sqlglot import exp

from lineage.fingerprint import literal_values, normalize
from lineage.model import Decision, Finding
from lineage.decide.analysis.kinds import Kind


def shown_sql(expression: exp.Expression, dialect: str) -> str:
    """SQL of a part of a statement with every literal as ``?``, for messages that quote it.

    >>> from sqlglot import parse_one
    >>> shown_sql(parse_one("ssn = '431-29-7468' and id > 3"), "postgres")
    'ssn = ? AND id > ?'
    """
    hidden = expression.transform(lambda node: exp.var("?") if isinstance(node, exp.Literal) else node)
    return hidden.sql(dialect)


def shown_statement(decision: Decision) -> str:
    """The statement as its author wrote it, each literal as ``?`` (normalised when unparseable)."""
    dialect = decision.facts.dialect
    if decision.facts.kind == Kind.UNPARSEABLE:
        return normalize(decision.original_sql, dialect)[0]
    return scrub_literals(decision.original_sql, literal_values(decision.original_sql, dialect)) or ""


def shown_findings(decision: Decision) -> tuple[Finding, ...]:
    if not decision.findings:
        return ()
    dialect = decision.facts.dialect
    literals = literal_values(decision.original_sql, dialect) | literal_values(decision.sql, dialect)
    unparsed = decision.facts.kind == Kind.UNPARSEABLE
    names = statement_names(decision) if unparsed else set()
    shown = []
    for finding in decision.findings:
        message = scrub_literals(finding.message, literals)
        if unparsed and finding.rule != "unsafe_text":  # that one names offsets and code points, never values
            message = scrub_values(message, names)
        detail = scrub_tree(finding.detail, literals) if finding.detail and literals else finding.detail
        shown.append(replace(finding, message=message, detail=detail))
    return tuple(shown)


def statement_names(decision: Decision) -> set[str]:
    """Tables and columns the statement names: quoted names that are not values."""
    facts = decision.facts
    names: set[str] = set()
    for table in (*facts.reads, *facts.writes):
        names.update(table.split("."))
    for columns in facts.columns_read.values():
        names.update(columns)
    names.update(column.split(".")[-1] for column in facts.output_columns)
    names.update(column.column for column in decision.masked_columns)
    return names

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
