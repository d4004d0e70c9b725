"""update_without_where: an UPDATE with no WHERE, or with one that is always true.

    UPDATE crm.customers SET tier = 1 WHERE TRUE
    -> update_without_where (block): updates every row of crm.customers (WHERE TRUE is always true)
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.rules.context import RuleContext


def update_without_where(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for kind, table, reason in facts.unfiltered:
        if kind == "update":
            yield Finding("update_without_where", f"updates every row of {table} ({reason})", table)
