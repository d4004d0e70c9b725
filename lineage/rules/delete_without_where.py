"""delete_without_where: a DELETE with no WHERE, or with one that is always true.

    DELETE FROM crm.orders WHERE 1 = 1
    -> delete_without_where (block): deletes every row of crm.orders (WHERE 1 = 1 is always true)
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.rules.context import RuleContext


def delete_without_where(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for kind, table, reason in facts.unfiltered:
        if kind == "delete":
            yield Finding("delete_without_where", f"deletes every row of {table} ({reason})", table)
