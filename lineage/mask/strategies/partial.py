"""partial: keep ``prefix`` characters, then a fixed ``pad``, then ``suffix`` characters; a value
no longer than prefix + suffix becomes the pad alone (the pad hides the length).

    partial(phone text, prefix=2, pad='****', suffix=2)
      ->  CASE WHEN LENGTH(phone) <= 4 THEN '****' ELSE LEFT(phone, 2) || '****' || RIGHT(phone, 2) END
    '+4930123456' -> '+4****56'
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import as_text, concat, length

DEFAULT_PAD = "****"


def partial(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, prefix: int, suffix: int, pad: str = DEFAULT_PAD) -> exp.Expression:
    text = as_text(column, dtype)
    pad_literal = exp.Literal.string(pad)
    return exp.Case(
        ifs=[exp.If(this=exp.LTE(this=length(text.copy()), expression=exp.Literal.number(prefix + suffix)), true=pad_literal.copy())],
        default=concat(
            exp.Left(this=text.copy(), expression=exp.Literal.number(prefix)),
            pad_literal.copy(),
            exp.Right(this=text.copy(), expression=exp.Literal.number(suffix)),
        ),
    )
