"""show_last: the last ``chars`` characters stay, the rest become ``*``; a value no longer
than ``chars`` is masked in full.

    show_last(ssn text, chars=4)
      ->  CASE WHEN LENGTH(ssn) <= 4 THEN REPEAT('*', LENGTH(ssn)) ELSE REPEAT('*', LENGTH(ssn) - 4) || RIGHT(ssn, 4) END
    '123-45-6789' -> '*******6789', '789' -> '***'
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import as_text, concat, fill, length


def show_last(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, chars: int) -> exp.Expression:
    text = as_text(column, dtype)
    size = length(text.copy())
    keep = exp.Literal.number(chars)
    return exp.Case(
        ifs=[exp.If(this=exp.LTE(this=size.copy(), expression=keep.copy()), true=fill(size.copy()))],
        default=concat(fill(exp.Sub(this=size.copy(), expression=keep.copy())), exp.Right(this=text.copy(), expression=keep.copy())),
    )
