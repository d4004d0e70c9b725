"""Split input text into statements and parse each on its own.

Splitting on the tokenizer's semicolons (never on characters) keeps ``'a;b'`` and
``$$ ... ; ... $$`` intact, and parsing each statement alone means one bad statement
is reported as unparseable without hiding the others. Text the database would read
differently from the analysis (a NUL byte, ``U&"..."`` escapes, see ``lineage.decide.analysis.text``)
is one unsafe statement, never split or parsed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from lineage.decide.allowlist import Call
from lineage.decide.analysis.calls import keyword_call
from lineage.decide.analysis.text import unsafe_characters, unsafe_tokens

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
    unsafe: bool = False  # the error says why the database would read the text differently (never run)
    offset: int = 0  # where ``sql`` starts in the whole text (sqlglot's node positions count from there)
    keyword_calls: tuple[Call, ...] = ()  # calls sqlglot parses as syntax (CAST(, TRIM(), by name as written


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
    refused = unsafe_characters(sql)  # before anything reads it: a NUL ends the text for libpq
    if refused:
        return [ParsedStatement(0, sql, None, refused, unsafe=True)]
    try:
        tokens = engine.tokenize(sql)
    except TokenError as error:
        return [ParsedStatement(0, sql.strip(), None, f"cannot tokenize: {error}")]
    refused = unsafe_tokens(sql, tokens, dialect)
    if refused:
        return [ParsedStatement(0, sql, None, refused, unsafe=True)]
    chunks: list[list] = [[]]
    calls: list[list[Call]] = [[]]
    previous = None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            chunks.append([])
            calls.append([])
        else:
            if token.token_type == TokenType.L_PAREN and previous is not None:
                call = keyword_call(previous, dialect)
                if call is not None:
                    calls[-1].append(call)
            chunks[-1].append(token)
        previous = token
    statements: list[ParsedStatement] = []
    for chunk, named in zip(chunks, calls):
        if not chunk:
            continue
        text = sql[chunk[0].start : chunk[-1].end + 1]
        parsed = _parse_chunk(len(statements), text, chunk, engine)
        statements.append(replace(parsed, keyword_calls=tuple(named)) if named else parsed)
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
    return ParsedStatement(index, text, expression, offset=tokens[0].start)


def _first_line(error: Exception) -> str:
    message = str(error)
    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    return message.splitlines()[0] if message else type(error).__name__
