"""truncate: removing every row of a table at once.

    TRUNCATE crm.orders
    -> truncate (block): truncates crm.orders (every row is deleted)
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def truncate(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "truncated_table":
            yield Finding("truncate", f"truncates {change.table} (every row is deleted)", change.table)
