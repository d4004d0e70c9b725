"""show_first: the first ``chars`` characters stay, the rest become ``*``; a value no longer
than ``chars`` is masked in full.

    show_first(name text, chars=2)
      ->  CASE WHEN LENGTH(name) <= 2 THEN REPEAT('*', LENGTH(name)) ELSE LEFT(name, 2) || REPEAT('*', LENGTH(name) - 2) END
    'Alice' -> 'Al***', 'Al' -> '**'
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import as_text, concat, fill, length


def show_first(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, chars: int) -> exp.Expression:
    text = as_text(column, dtype)
    size = length(text.copy())
    keep = exp.Literal.number(chars)
    return exp.Case(
        ifs=[exp.If(this=exp.LTE(this=size.copy(), expression=keep.copy()), true=fill(size.copy()))],
        default=concat(exp.Left(this=text.copy(), expression=keep.copy()), fill(exp.Sub(this=size.copy(), expression=keep.copy()))),
    )
