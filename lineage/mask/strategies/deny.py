"""deny: the column may not be referenced at all; a statement that does is refused.

    SELECT ssn FROM crm.customers            -> refused (masking_refused: deny column ssn)
    SELECT id FROM crm.customers             -> runs; the derived table projects CAST(NULL AS TEXT) AS ssn

The rewrite does the refusing; this function gives the projection for statements that do not
reference the column, so a reference the analysis missed still reads NULL.
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import typed_null


def deny(column: exp.Expression, dtype: exp.DataType | None, dialect: str) -> exp.Expression:
    return typed_null(dtype)
