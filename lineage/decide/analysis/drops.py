"""What a DROP removes: the kind of object, its names, and whether CASCADE takes dependents too.

    DROP TYPE crm.money_t CASCADE     -> DropInfo("type", ("crm.money_t",), cascade=True)
    DROP DOMAIN crm.d                 -> DropInfo("domain", ("crm.d",))          (a Command for sqlglot)
    DROP OWNED BY bob                 -> DropInfo("owned", ("bob",))             (every object bob owns)
    DROP FROBNICATOR x                -> DropInfo(None, ...)                     (unknown kind: refused)

Every kind is judged by a rule: relations (``drop_table``), objects such as types, functions,
sequences and indexes (``drop_object``), triggers, rules and policies (``disable_safety``),
roles (``privilege_change``); CASCADE on any of them is ``drop_cascade``. A kind not listed
here is not understood, so the analysis refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import TokenError

from lineage.decide.analysis.statements import get_dialect

RELATION_KINDS = frozenset({
    "table", "view", "materialized view", "foreign table", "schema", "database",
    "external table", "dynamic table", "iceberg table",
})
SAFETY_KINDS = frozenset({"policy", "trigger", "rule", "event trigger", "masking policy", "row access policy"})
ROLE_KINDS = frozenset({"role", "user", "group"})
OBJECT_KINDS = frozenset({
    "type", "domain", "function", "procedure", "routine", "aggregate", "operator", "operator class",
    "operator family", "sequence", "index", "extension", "collation", "conversion", "cast",
    "text search configuration", "text search dictionary", "text search parser", "text search template",
    "server", "foreign data wrapper", "user mapping", "publication", "subscription", "statistics",
    "tablespace", "language", "access method", "transform", "macro", "macro table", "secret", "stage",
    "stream", "task", "pipe", "file format", "tag",
})
OWNED = "owned"  # DROP OWNED BY: every object a role owns, tables included
KNOWN_KINDS = RELATION_KINDS | SAFETY_KINDS | ROLE_KINDS | OBJECT_KINDS | {OWNED}

_LONGEST_KIND = max(len(kind.split()) for kind in KNOWN_KINDS | {"owned by"})
_SKIPPED = {"CONCURRENTLY", "IF", "EXISTS", "PROCEDURAL", "TRUSTED", "BY"}


@dataclass(frozen=True)
class DropInfo:
    kind: str | None  # lowercase kind, or None when the analysis does not know it
    names: tuple[str, ...]
    cascade: bool = False
    words: str = ""  # the kind as written, for messages about unknown kinds


def drop_of_command(text: str, dialect: str) -> DropInfo:
    """A DROP sqlglot keeps as a Command (``text`` follows the DROP keyword)."""
    try:
        tokens = get_dialect(dialect).tokenize(text)
    except (TokenError, Exception):
        return DropInfo(None, (), words=text.split()[0] if text.split() else "")
    words = [token.text.upper() for token in tokens]
    kind = None
    length = 0
    for size in range(min(_LONGEST_KIND, len(words)), 0, -1):
        candidate = " ".join(words[:size]).lower()
        if candidate in KNOWN_KINDS:
            kind, length = candidate, size
            break
    if kind is None:
        return DropInfo(None, (), cascade="CASCADE" in words, words=" ".join(words[:2]))
    rest = tokens[length:]
    while rest and rest[0].text.upper() in _SKIPPED:
        rest = rest[1:]
    cascade = any(token.text.upper() == "CASCADE" for token in rest)
    names = _names(text, rest)
    return DropInfo(kind, names, cascade=cascade, words=kind.upper())


def kind_of(drop: exp.Drop) -> str:
    kind = (drop.args.get("kind") or "").lower()
    if kind == "view" and drop.args.get("materialized"):
        return "materialized view"
    return kind or "object"


def _names(text: str, tokens: list) -> tuple[str, ...]:
    """The objects' names as written, up to ``ON``, ``CASCADE`` or ``RESTRICT``, split at commas."""
    names: list[str] = []
    start = None
    depth = 0
    for token in tokens:
        word = token.text.upper()
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        if depth == 0 and (word in ("CASCADE", "RESTRICT", "ON", "USING") or token.text == ","):
            if start is not None:
                names.append(text[start:end].strip())
                start = None
            if token.text != ",":
                break
            continue
        if start is None:
            start = token.start
        end = token.end + 1
    if start is not None:
        names.append(text[start:end].strip())
    return tuple(name for name in names if name)
