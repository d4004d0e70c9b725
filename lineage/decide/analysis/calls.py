"""The function calls of a statement, named as the database will resolve them.

    SELECT lower(email), LCASE(x), pg_catalog.upper(y), crm.leak(z), "Lower"(w), CAST(v AS int), u::text FROM t
    -> lower(), lcase(), pg_catalog.upper(), crm.leak(), Lower(), cast(), Cast (SQL syntax)

sqlglot maps many names to one expression (``LCASE`` and ``LOWER`` are both ``exp.Lower``), but
the database calls the name that is written, which may be a user's function. So a named call
is taken by its name in the text: sqlglot keeps the position of a function name it looked up,
and the names it parses as syntax (``CAST(``, ``EXTRACT(``, ``TRIM(``) come from the tokens
(``keyword_calls``, collected while the text is split). What has no name of its own (operators,
``::``, ``CASE``) is recorded by its sqlglot class. ``lineage.decide.allowlist`` says which are known.
"""

from __future__ import annotations

import functools
from typing import Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from lineage.decide.allowlist import Call

ANONYMOUS = (exp.Anonymous, exp.AnonymousAggFunc)


@functools.lru_cache(maxsize=None)
def keyword_names(dialect: str) -> frozenset[str]:
    """Names sqlglot parses as syntax when a parenthesis follows (its nodes keep no position)."""
    parser = Dialect.get_or_raise(dialect).parser_class
    return frozenset(parser.FUNCTION_PARSERS) | frozenset(parser.NO_PAREN_FUNCTION_PARSERS)


def keyword_call(previous: Token, dialect: str) -> Call | None:
    """The keyword-parsed call whose name token is ``previous`` (a parenthesis follows)."""
    if previous.text.upper() not in keyword_names(dialect):
        return None
    quoted = previous.token_type == TokenType.IDENTIFIER
    return Call(_identifier_name(previous.text, quoted, dialect), quoted=quoted)


def statement_calls(expression: exp.Expression, sql: str, offset: int, dialect: str, keyword_calls: Iterable[Call] = ()) -> tuple[Call, ...]:
    """Every call in the parsed statement ``expression`` whose text is ``sql`` (starting at ``offset``
    of the text sqlglot tokenized, where its positions count from)."""
    found: dict[Call, None] = dict.fromkeys(keyword_calls)
    for node in expression.find_all(exp.Func):
        found.setdefault(call_of(node, sql, offset, dialect), None)
    return tuple(found)


def call_of(node: exp.Func, sql: str, offset: int, dialect: str) -> Call:
    """The function ``node`` calls, by the name the database resolves (as written in ``sql``)."""
    if isinstance(node, ANONYMOUS):
        this = node.this
        quoted = isinstance(this, exp.Identifier) and bool(this.args.get("quoted"))
        name = _identifier_name(this.name if isinstance(this, exp.Identifier) else str(this), quoted, dialect)
    else:
        start, end = node.meta.get("start"), node.meta.get("end")
        written = sql[start - offset : end - offset + 1] if start is not None and end is not None else ""
        quoted = len(written) > 1 and written[0] == written[-1] == '"'
        bare = written[1:-1].replace('""', '"') if quoted else written
        if not bare or not bare.replace("_", "").replace("$", "").isalnum():
            return Call(type(node).__name__, syntax=True)
        name = _identifier_name(bare, quoted, dialect)
    qualifier = _qualifier(node, dialect)
    return Call(f"{qualifier}.{name}" if qualifier else name, quoted=quoted)


def _qualifier(node: exp.Expression, dialect: str) -> str | None:
    parent = node.parent
    if not isinstance(parent, exp.Dot) or parent.expression is not node:
        return None
    parts = [_identifier_name(part.name, bool(part.args.get("quoted")), dialect) for part in parent.this.find_all(exp.Identifier, bfs=False)]
    return ".".join(parts) if parts else parent.this.sql(dialect).lower()


def _identifier_name(name: str, quoted: bool, dialect: str) -> str:
    # PostgreSQL keeps a quoted name's case; DuckDB compares every name without case
    return name if quoted and dialect != "duckdb" else name.lower()
