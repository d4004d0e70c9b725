"""nullify: every value becomes NULL of the column's type (so sums and joins still type-check).

    nullify(salary numeric(12,2))  ->  CAST(NULL AS DECIMAL(12, 2))        85000.00 -> NULL
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import typed_null


def nullify(column: exp.Expression, dtype: exp.DataType | None, dialect: str) -> exp.Expression:
    return typed_null(dtype)
