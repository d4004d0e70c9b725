"""Recognise statements sqlglot only keeps as an opaque ``Command``, from their tokens.

sqlglot parses ``DO``, ``PREPARE``, ``ALTER ROLE``, ``ALTER TABLE .. DISABLE TRIGGER``,
``DROP POLICY`` and friends as ``exp.Command(this=keyword, expression=rest)``. The tokens
still tell what kind of statement it is, which the guardrail rules need.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from lineage.decide.analysis.statements import get_dialect


@dataclass(frozen=True)
class CommandInfo:
    kind: str
    words: tuple[str, ...]
    table: tuple[str, ...] | None = None
    grant_option: bool = False
    to_public: bool = False
    disables_safety: bool = False
    privilege_change: bool = False
    opaque_reason: str | None = None
    inner_sql: str | None = None


OPAQUE_KEYWORDS = {
    "DO": ("do_block", "anonymous code block: the SQL it runs is hidden in a string"),
    "PREPARE": ("prepare", "prepared statement: the SQL runs later through EXECUTE"),
    "EXECUTE": ("execute", "executes a prepared statement whose SQL is not in this statement"),
    "DECLARE": ("cursor", "cursor declaration: rows are read later through FETCH"),
    "FETCH": ("fetch", "reads rows from a cursor declared elsewhere"),
    "MOVE": ("fetch", "moves a cursor declared elsewhere"),
    "CALL": ("call", "calls a procedure whose body is not visible"),
    "LOAD": ("load", "loads an extension or library"),
    "INSTALL": ("load", "installs an extension"),
    "ATTACH": ("attach", "attaches another database"),
    "IMPORT": ("import", "imports a database"),
}

HARMLESS = {
    "VACUUM": "maintenance",
    "CHECKPOINT": "maintenance",
    "REINDEX": "maintenance",
    "CLUSTER": "maintenance",
    "DISCARD": "session",
    "LISTEN": "session",
    "UNLISTEN": "session",
    "NOTIFY": "session",
    "DEALLOCATE": "session",
    "CLOSE": "session",
    "SAVEPOINT": "transaction",
    "RELEASE": "transaction",
    "START": "transaction",
    "END": "transaction",
    "ABORT": "transaction",
    "LOCK": "lock",
}

ROLE_OBJECTS = {"ROLE", "USER", "GROUP"}


def classify_command(command: exp.Command, dialect: str) -> CommandInfo:
    keyword = str(command.this).upper()
    rest = command.expression
    rest_text = rest.name if isinstance(rest, exp.Literal) else (rest.sql(dialect) if isinstance(rest, exp.Expression) else str(rest or ""))
    words, identifiers = _words(rest_text, dialect)
    first = words[0] if words else ""

    if keyword == "EXPLAIN":
        return CommandInfo("explain", words, inner_sql=_after_options(rest_text, dialect))
    if keyword in OPAQUE_KEYWORDS:
        kind, reason = OPAQUE_KEYWORDS[keyword]
        return CommandInfo(kind, words, opaque_reason=reason)
    if keyword == "GRANT" or keyword == "REVOKE":
        return CommandInfo(
            keyword.lower(),
            words,
            grant_option=_has_sequence(words, ("GRANT", "OPTION")) or _has_sequence(words, ("ADMIN", "OPTION")),
            to_public="PUBLIC" in words,
            privilege_change=True,
        )
    if keyword in ("CREATE", "ALTER", "DROP") and first in ROLE_OBJECTS:
        return CommandInfo(f"{keyword.lower()}_role", words, privilege_change=True)
    if keyword == "ALTER" and _has_sequence(words, ("DEFAULT", "PRIVILEGES")):
        return CommandInfo("alter_default_privileges", words, privilege_change=True, grant_option="GRANT" in words and "OPTION" in words, to_public="PUBLIC" in words)
    if keyword == "ALTER" and "OWNER" in words:
        return CommandInfo("alter_owner", words, privilege_change=True)
    if keyword == "ALTER" and first == "TABLE":
        table = identifiers[0] if identifiers else None
        if "DISABLE" in words and ("TRIGGER" in words or "RULE" in words or _has_sequence(words, ("ROW", "LEVEL", "SECURITY"))):
            return CommandInfo("alter_table", words, table=table, disables_safety=True)
        if _has_sequence(words, ("NO", "FORCE", "ROW", "LEVEL", "SECURITY")):
            return CommandInfo("alter_table", words, table=table, disables_safety=True)
        return CommandInfo("alter_table", words, table=table, opaque_reason="ALTER TABLE form the analysis does not understand")
    if keyword in ("DROP", "ALTER") and first == "POLICY":
        return CommandInfo(f"{keyword.lower()}_policy", words, disables_safety=keyword == "DROP", opaque_reason=None if keyword == "DROP" else "ALTER POLICY changes row-level security")
    if keyword in HARMLESS:
        return CommandInfo(HARMLESS[keyword], words)
    return CommandInfo(f"{keyword.lower()}", words, opaque_reason=f"{keyword} statement the analysis does not understand")


def _words(text: str, dialect: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Upper-cased token texts, and the dotted identifier chains among them."""
    try:
        tokens = get_dialect(dialect).tokenize(text)
    except Exception:
        return tuple(part.upper() for part in text.split()), []
    words = tuple(token.text.upper() for token in tokens)
    chains: list[tuple[str, ...]] = []
    current: list[str] = []
    expecting_part = False
    from sqlglot.tokens import TokenType

    for token in tokens:
        if token.token_type in (TokenType.VAR, TokenType.IDENTIFIER) or (expecting_part and token.text):
            if current and not expecting_part:
                chains.append(tuple(current))
                current = []
            current.append(token.text)
            expecting_part = False
        elif token.token_type == TokenType.DOT and current:
            expecting_part = True
        else:
            if current:
                chains.append(tuple(current))
            current, expecting_part = [], False
    if current:
        chains.append(tuple(current))
    return words, chains


def _has_sequence(words: tuple[str, ...], sequence: tuple[str, ...]) -> bool:
    size = len(sequence)
    return any(words[i : i + size] == sequence for i in range(len(words) - size + 1))


def _after_options(text: str, dialect: str) -> str:
    """The statement an EXPLAIN wraps: skip ``ANALYZE``, ``VERBOSE`` and a ``( ... )`` option list."""
    try:
        tokens = get_dialect(dialect).tokenize(text)
    except Exception:
        return text
    index = 0
    while index < len(tokens):
        word = tokens[index].text.upper()
        if word in ("ANALYZE", "ANALYSE", "VERBOSE"):
            index += 1
        elif word == "(":
            depth = 0
            while index < len(tokens):
                if tokens[index].text == "(":
                    depth += 1
                elif tokens[index].text == ")":
                    depth -= 1
                    if depth == 0:
                        index += 1
                        break
                index += 1
        else:
            break
    if index >= len(tokens):
        return ""
    return text[tokens[index].start :]
