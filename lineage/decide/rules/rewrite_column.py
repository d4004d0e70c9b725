"""rewrite_column: ALTER COLUMN ... TYPE ... USING an expression that computes new values.

    ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(10,2) USING NULL
    -> rewrite_column (block): rewrites every value of amount of crm.orders: USING is not the column cast to numeric(10,2) ...
    ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(12,2) USING amount::numeric(12,2)
    -> nothing here (alter_column_type judges the type change)

Every stored value becomes the USING expression's result, as with an UPDATE of every row
without WHERE: refused by default (``update_without_where``'s default), whatever the type change
(``alter_column_type``) would say about the types alone.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def rewrite_column(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "retyped_column" and change.rewritten:
            yield Finding(
                "rewrite_column",
                f"rewrites every value of {change.column} of {change.table}: its USING expression is not the column "
                f"cast to {change.new_type}, so every row gets a new value (an UPDATE without WHERE). "
                f"Write USING {change.column}::{change.new_type} (or no USING), update the rows with a WHERE, "
                f"or allow it for this table with a guardrails entry for rewrite_column",
                f"{change.table}.{change.column}",
            )
