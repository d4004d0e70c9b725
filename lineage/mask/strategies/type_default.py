"""type_default: a present value becomes its type's neutral value; NULL stays NULL.

    type_default(salary numeric(12,2))  ->  CASE WHEN salary IS NULL THEN NULL ELSE CAST(0 AS DECIMAL(12, 2)) END
    text 'Alice' -> 'XXXX', numbers -> 0, dates -> 1900-01-01, timestamps -> 1900-01-01 00:00:00,
    booleans -> false, uuid -> 00000000-..., json -> {}
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import MaskError, is_date, is_number, is_text, is_timestamp, present, typed

Type = exp.DataType.Type


def type_default(column: exp.Expression, dtype: exp.DataType | None, dialect: str) -> exp.Expression:
    if dtype is None:
        raise MaskError("type_default needs the column's type, which the catalog does not give")
    return present(column, typed(_default(dtype), dtype))


def _default(dtype: exp.DataType) -> exp.Expression:
    if is_text(dtype):
        return exp.Literal.string("XXXX")
    if is_number(dtype):
        return exp.Literal.number(0)
    if dtype.this == Type.BOOLEAN:
        return exp.false()
    if is_date(dtype):
        return exp.Literal.string("1900-01-01")
    if is_timestamp(dtype):
        return exp.Literal.string("1900-01-01 00:00:00")
    if dtype.this in (Type.TIME, Type.TIMETZ):
        return exp.Literal.string("00:00:00")
    if dtype.this == Type.UUID:
        return exp.Literal.string("00000000-0000-0000-0000-000000000000")
    if dtype.this in (Type.JSON, Type.JSONB):
        return exp.Literal.string("{}")
    raise MaskError(f"type_default has no default for type {dtype.sql()}")
