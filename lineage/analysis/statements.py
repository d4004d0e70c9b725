"""Split input text into statements and parse each on its own.

Splitting on the tokenizer's semicolons (never on characters) keeps ``'a;b'`` and
``$$ ... ; ... $$`` intact, and parsing each statement alone means one bad statement
is reported as unparseable without hiding the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

DIALECTS = ("postgres", "duckdb", "snowflake", "bigquery", "redshift", "mysql", "trino", "spark", "databricks", "sqlite", "tsql", "oracle")

STATEMENT_TYPES: tuple[type[exp.Expression], ...] = (
    exp.Query,
    exp.Values,
    exp.DML,
    exp.DDL,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Grant,
    exp.Revoke,
    exp.Command,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Set,
    exp.Use,
    exp.Describe,
    exp.Show,
    exp.Pragma,
    exp.Analyze,
    exp.Export,
    exp.Comment,
    exp.Cache,
    exp.Uncache,
    exp.Refresh,
    exp.Summarize,
)


class UnknownDialect(ValueError):
    pass


@dataclass(frozen=True)
class ParsedStatement:
    index: int
    sql: str
    expression: exp.Expression | None
    error: str | None = None


class _DropFallbackWarning(logging.Filter):
    """sqlglot warns on every statement it parses as a Command; the analysis reports those itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_DropFallbackWarning())


def get_dialect(name: str) -> Dialect:
    try:
        return Dialect.get_or_raise(name)
    except ValueError:
        raise UnknownDialect(f"unknown SQL dialect {name!r} (for example: {', '.join(DIALECTS)})") from None


def split_statements(sql: str, dialect: str) -> list[ParsedStatement]:
    """Parse every statement of ``sql``; an unparseable one keeps its text and the error."""
    engine = get_dialect(dialect)
    try:
        tokens = engine.tokenize(sql)
    except TokenError as error:
        return [ParsedStatement(0, sql.strip(), None, f"cannot tokenize: {error}")]
    chunks: list[list] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(token)
    statements: list[ParsedStatement] = []
    for chunk in chunks:
        if not chunk:
            continue
        text = sql[chunk[0].start : chunk[-1].end + 1]
        statements.append(_parse_chunk(len(statements), text, chunk, engine))
    return statements


def _parse_chunk(index: int, text: str, tokens: list, engine: Dialect) -> ParsedStatement:
    try:
        parsed = [node for node in engine.parser().parse(tokens, text) if node is not None]
    except (ParseError, TokenError):
        # token positions are relative to the whole input: parse the statement alone for the message
        try:
            engine.parse(text)
        except (ParseError, TokenError) as error:
            return ParsedStatement(index, text, None, _first_line(error))
        except Exception as error:
            return ParsedStatement(index, text, None, f"{type(error).__name__}: {_first_line(error)}")
        return ParsedStatement(index, text, None, "cannot parse the statement")
    except Exception as error:  # sqlglot raising anything else is still "cannot prove what this does"
        return ParsedStatement(index, text, None, f"{type(error).__name__}: {_first_line(error)}")
    if len(parsed) != 1:
        return ParsedStatement(index, text, None, "not exactly one statement")
    expression = parsed[0]
    if not isinstance(expression, STATEMENT_TYPES):
        return ParsedStatement(index, text, None, f"not a SQL statement (parsed as {type(expression).__name__})")
    return ParsedStatement(index, text, expression)


def _first_line(error: Exception) -> str:
    message = str(error)
    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    return message.splitlines()[0] if message else type(error).__name__
