"""Small builders the strategies share: text casts, typed NULLs, star fills, NULL guards.

Every strategy keeps NULL as NULL (a NULL has no value to hide), so the guards here
only ever decide what a present value becomes. No strategy writes a ``%`` into SQL: DB-API
drivers with the ``format``/``pyformat`` paramstyle (psycopg) would read it as a placeholder.
"""

from __future__ import annotations

from sqlglot import exp


class MaskError(ValueError):
    """A strategy that cannot mask this column safely (wrong type, bad argument, no key)."""


TEXT = exp.DataType.build("text")

DATE_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.DATE32}
TIMESTAMP_TYPES = exp.DataType.TEMPORAL_TYPES - DATE_TYPES - {exp.DataType.Type.TIME, exp.DataType.Type.TIMETZ}
NUMBER_TYPES = exp.DataType.INTEGER_TYPES | exp.DataType.REAL_TYPES


def is_text(dtype: exp.DataType | None) -> bool:
    return dtype is not None and dtype.this in exp.DataType.TEXT_TYPES


def is_integer(dtype: exp.DataType | None) -> bool:
    return dtype is not None and dtype.this in exp.DataType.INTEGER_TYPES and dtype.this != exp.DataType.Type.BIT


def is_number(dtype: exp.DataType | None) -> bool:
    return dtype is not None and dtype.this in NUMBER_TYPES


def is_date(dtype: exp.DataType | None) -> bool:
    return dtype is not None and dtype.this in DATE_TYPES


def is_timestamp(dtype: exp.DataType | None) -> bool:
    return dtype is not None and dtype.this in TIMESTAMP_TYPES


def as_text(value: exp.Expression, dtype: exp.DataType | None) -> exp.Expression:
    """The value as text (no cast when it already is text)."""
    return value if is_text(dtype) else exp.Cast(this=value, to=TEXT.copy())


def typed(expression: exp.Expression, dtype: exp.DataType | None) -> exp.Expression:
    """``CAST(expression AS <column type>)`` so the mask keeps the column's type; as is when unknown."""
    return exp.Cast(this=expression, to=dtype.copy()) if dtype is not None else expression


def typed_null(dtype: exp.DataType | None) -> exp.Expression:
    return typed(exp.Null(), dtype)


def length(value: exp.Expression) -> exp.Expression:
    return exp.Length(this=value)


def fill(count: exp.Expression, char: str = "*") -> exp.Expression:
    """``char`` repeated ``count`` times (callers only pass counts that cannot be negative)."""
    return exp.Repeat(this=exp.Literal.string(char), times=count)


def concat(*parts: exp.Expression) -> exp.Expression:
    """``a || b || ...``: NULL in, NULL out, in every target dialect."""
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=False)
    return out


def present(value: exp.Expression, then: exp.Expression) -> exp.Expression:
    """``CASE WHEN value IS NULL THEN NULL ELSE then END``."""
    return exp.Case(ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null())], default=then)


def regexp_replace_all(value: exp.Expression, pattern: str, replacement: str) -> exp.Expression:
    """Replace every match; sqlglot writes PostgreSQL's and DuckDB's ``'g'`` flag itself."""
    return exp.RegexpReplace(this=value, expression=exp.Literal.string(pattern), replacement=exp.Literal.string(replacement))
