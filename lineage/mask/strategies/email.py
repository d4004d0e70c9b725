"""email: the local part becomes ``*****`` (fixed, so its length does not show); the domain
after the last ``@`` stays unless ``mask_domain``. A value without ``@`` becomes ``*****``.

    email(email text)  ->  CASE WHEN email IS NULL THEN NULL ELSE
                             CASE WHEN STRPOS(email, '@') > 0 THEN '*****@' || REVERSE(SPLIT_PART(REVERSE(email), '@', 1)) ELSE '*****' END END
    'alice.smith@example.com' -> '*****@example.com'; with mask_domain: '*****@*****'
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import as_text, concat, present

LOCAL = "*****"


def email(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, mask_domain: bool = False) -> exp.Expression:
    text = as_text(column, dtype)
    masked = exp.Literal.string(f"{LOCAL}@{LOCAL}") if mask_domain else concat(exp.Literal.string(f"{LOCAL}@"), _domain(text, dialect))
    # STRPOS, not LIKE '%@%': a '%' in the SQL would break DB-API drivers that format parameters with %
    has_at = exp.GT(this=exp.StrPosition(this=text.copy(), substr=exp.Literal.string("@")), expression=exp.Literal.number(0))
    return present(column, exp.Case(ifs=[exp.If(this=has_at, true=masked)], default=exp.Literal.string(LOCAL)))


def _domain(text: exp.Expression, dialect: str) -> exp.Expression:
    """What follows the last ``@`` (BigQuery has no SPLIT_PART; its regex classes match newlines)."""
    if dialect == "bigquery":
        return exp.RegexpExtract(this=text.copy(), expression=exp.Literal.string("[^@]*$"))
    reversed_parts = exp.SplitPart(this=exp.Reverse(this=text.copy()), delimiter=exp.Literal.string("@"), part_index=exp.Literal.number(1))
    return exp.Reverse(this=reversed_parts)
