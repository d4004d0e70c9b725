"""add_not_null_without_default: a NOT NULL column with no default fails on (or rewrites) a non-empty table.

    ALTER TABLE crm.customers ADD COLUMN tier int NOT NULL
    -> add_not_null_without_default (require_approval): adds NOT NULL column tier to crm.customers without a default
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def add_not_null_without_default(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "added_column" and change.not_null and not change.has_default:
            yield Finding(
                "add_not_null_without_default",
                f"adds NOT NULL column {change.column} to {change.table} without a default",
                f"{change.table}.{change.column}",
            )
        elif change.change == "not_null_added":
            yield Finding(
                "add_not_null_without_default",
                f"makes column {change.column} of {change.table} NOT NULL (fails on existing NULLs, scans the table)",
                f"{change.table}.{change.column}",
            )
