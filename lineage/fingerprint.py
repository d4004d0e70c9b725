"""Normalised SQL without literal values, and its fingerprint.

The ledger stores this form, never raw literals (a planted SSN in a WHERE clause must not
land in an audit log), and approvals and ``lineage correlate`` match statements by the
fingerprint, so the same statement with other values is the same statement.

    >>> normalize("SELECT * FROM crm.customers WHERE ssn = '123-45-6789' AND id > 7", "postgres")[0]
    'SELECT * FROM crm.customers WHERE ssn = ? AND id > ?'
"""

from __future__ import annotations

import functools
import hashlib

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from lineage.analysis.statements import get_dialect

_LITERAL_TOKENS = {TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING, TokenType.BIT_STRING, TokenType.HEX_STRING, TokenType.BYTE_STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING, TokenType.UNICODE_STRING}


@functools.lru_cache(maxsize=8192)
def normalize(sql: str, dialect: str) -> tuple[str, str]:
    """``(normalised SQL, fingerprint)``; literals become ``?``, comments disappear."""
    text = _normalize_parsed(sql, dialect)
    if text is None:
        text = _normalize_tokens(sql, dialect)
    return text, "fp:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def fingerprint(sql: str, dialect: str) -> str:
    return normalize(sql, dialect)[1]


def _normalize_parsed(sql: str, dialect: str) -> str | None:
    try:
        expressions = get_dialect(dialect).parse(sql)
    except (SqlglotError, Exception):
        return None
    parts = []
    for expression in expressions:
        if expression is None:
            continue
        if isinstance(expression, exp.Command):
            return None  # a Command keeps its text verbatim, literals included: use the tokens
        expression = expression.copy()
        for literal in list(expression.find_all(exp.Literal, exp.Heredoc, exp.RawString, exp.HexString, exp.ByteString, exp.BitString, exp.National)):
            literal.replace(exp.Placeholder())
        for node in expression.walk():
            node.comments = None
        parts.append(expression.sql(dialect=dialect))
    return "; ".join(parts) if parts else None


def _normalize_tokens(sql: str, dialect: str) -> str:
    try:
        tokens = get_dialect(dialect).tokenize(sql)
    except (SqlglotError, Exception):
        return f"<untokenizable statement of {len(sql)} characters>"
    return " ".join("?" if token.token_type in _LITERAL_TOKENS else token.text for token in tokens)
