"""date_trunc: a date or timestamp is truncated to its ``year`` or ``month``, keeping the type.

    date_trunc(dob date, part='year')  ->  CAST(DATE_TRUNC('YEAR', dob) AS DATE)      1987-06-15 -> 1987-01-01

Refuses columns that are not dates or timestamps (a text "date" cannot be truncated safely).
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import MaskError, is_date, is_timestamp, typed


def date_trunc(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, part: str) -> exp.Expression:
    unit = exp.var(part.upper())
    if is_date(dtype):
        return typed(exp.DateTrunc(unit=unit, this=column), dtype)
    if is_timestamp(dtype):
        return typed(exp.TimestampTrunc(unit=unit, this=column), dtype)
    shown = dtype.sql(dialect) if dtype is not None else "unknown"
    raise MaskError(f"date_trunc needs a date or timestamp column, the catalog gives {shown}")
