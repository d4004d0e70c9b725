"""Normalised SQL without literal values, and its fingerprint.

The ledger stores this form, never raw literals (a planted SSN in a WHERE clause must not
land in an audit log), and approvals and ``lineage correlate`` match statements by the
fingerprint, so the same statement with other values is the same statement.

    >>> normalize("SELECT * FROM crm.customers WHERE ssn = '123-45-6789' AND id > 7", "postgres")[0]
    'SELECT * FROM crm.customers WHERE ssn = ? AND id > ?'

Bind parameters in any driver's style (``%s``, ``%(name)s``, ``?``, ``$1``, ``:name``) also
become ``?``: the pipeline sends ``%s`` and PostgreSQL logs ``$1``, and both must give the
same fingerprint. Literals inside a type (``varchar(10)``) are part of the statement's
meaning, not values, and stay.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from lineage.decide.analysis.statements import get_dialect
from lineage.decide.analysis.text import unsafe_characters

_LITERAL_TOKENS = {TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING, TokenType.BIT_STRING, TokenType.HEX_STRING, TokenType.BYTE_STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING, TokenType.UNICODE_STRING}
_VALUE_NODES = (exp.Literal, exp.Heredoc, exp.RawString, exp.HexString, exp.ByteString, exp.BitString, exp.National, exp.Placeholder)


def normalize(sql: str, dialect: str) -> tuple[str, str]:
    """``(normalised SQL, fingerprint)``; literals and bind parameters become ``?``, comments disappear."""
    text, fp, _ = _analyse(sql, dialect)
    return text, fp


def fingerprint(sql: str, dialect: str) -> str:
    return _analyse(sql, dialect)[1]


def literal_values(sql: str, dialect: str) -> frozenset[str]:
    """The literal values written in ``sql`` (what ``normalize`` replaced), for scrubbing other texts.

        >>> sorted(literal_values("SELECT 1 FROM t WHERE ssn = '123-45-6789'", "postgres"))
        ['1', '123-45-6789']
    """
    return _analyse(sql, dialect)[2]


@functools.lru_cache(maxsize=8192)
def _analyse(sql: str, dialect: str) -> tuple[str, str, frozenset[str]]:
    # text refused as unsafe (lineage.decide.analysis.text) is still recorded: its control characters
    # and undecodable bytes become U+FFFD, which every store and log can hold
    if unsafe_characters(sql):
        sql = "".join("\ufffd" if unicodedata.category(char) in ("Cc", "Cs") and char not in "\t\n\r" else char for char in sql)
    parsed = _normalize_parsed(sql, dialect)
    text, literals = parsed if parsed is not None else _normalize_tokens(sql, dialect)
    return text, "fp:" + hashlib.sha256(text.encode()).hexdigest()[:32], literals


def _normalize_parsed(sql: str, dialect: str) -> tuple[str, frozenset[str]] | None:
    try:
        expressions = get_dialect(dialect).parse(sql)
    except (SqlglotError, Exception):
        return None
    parts = []
    literals: set[str] = set()
    for expression in expressions:
        if expression is None:
            continue
        if isinstance(expression, exp.Command):
            return None  # a Command keeps its text verbatim, literals included: use the tokens
        # a tree of its own (parsed just now): changed in place, without a copy
        for node in list(expression.find_all(*_VALUE_NODES, exp.Parameter)):
            if node.find_ancestor(exp.DataType) is not None:
                continue
            if isinstance(node, exp.Parameter) and not (isinstance(node.this, exp.Literal) and node.this.is_int):
                continue  # @variable and the like name something, they are not bind parameters
            if isinstance(node.parent, exp.Parameter):
                continue  # the 1 of $1
            if not isinstance(node, (exp.Placeholder, exp.Parameter)) and node.this is not None:
                literals.add(str(node.this))
            node.replace(exp.var("?"))
        for node in expression.walk():
            node.comments = None
        parts.append(expression.sql(dialect=dialect))
    return ("; ".join(parts), frozenset(literals)) if parts else None


def _normalize_tokens(sql: str, dialect: str) -> tuple[str, frozenset[str]]:
    try:
        tokens = get_dialect(dialect).tokenize(sql)
    except (SqlglotError, Exception):
        return f"<untokenizable statement of {len(sql)} characters>", frozenset()
    literals = frozenset(token.text for token in tokens if token.token_type in _LITERAL_TOKENS)
    return " ".join("?" if token.token_type in _LITERAL_TOKENS else token.text for token in tokens), literals
