"""constant: a present value becomes a fixed value, cast to the column's type; NULL stays NULL.

    constant(city varchar(40), value='REDACTED')  ->  CASE WHEN city IS NULL THEN NULL ELSE CAST('REDACTED' AS VARCHAR(40)) END
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import MaskError, is_number, present, typed


def constant(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, value: str | int | float | bool) -> exp.Expression:
    if isinstance(value, bool):
        literal: exp.Expression = exp.Boolean(this=value)
    elif isinstance(value, (int, float)):
        literal = exp.Literal.number(value)
    else:
        if is_number(dtype) and not _numeric(value):
            raise MaskError(f"constant {value!r} is not a number, but the column is {dtype.sql()}")
        literal = exp.Literal.string(value)
    return present(column, typed(literal, dtype))


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
