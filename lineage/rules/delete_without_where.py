"""delete_without_where: a DELETE with no WHERE, or with one that selects every row anyway.

    DELETE FROM crm.orders WHERE 1 = 1
    -> delete_without_where (block): deletes every row of crm.orders (WHERE 1 = 1 is always true)
    DELETE FROM crm.orders WHERE EXISTS (SELECT 1 FROM crm.customers)
    -> delete_without_where (block): ... (WHERE EXISTS(...) does not read the row: it is the same for every row)
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.rules.context import RuleContext


def delete_without_where(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for kind, table, reason in facts.unfiltered:
        if kind == "delete":
            yield Finding("delete_without_where", f"deletes every row of {table} ({reason})", table)
