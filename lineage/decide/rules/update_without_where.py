"""update_without_where: an UPDATE (or MERGE ... THEN UPDATE) whose condition filters nothing.

    UPDATE crm.customers SET tier = 1 WHERE id IS NOT NULL
    -> update_without_where (block): updates every row of crm.customers (WHERE NOT id IS NULL is no filter: ...)

The same positive definition of a filter as ``delete_without_where`` (``lineage.decide.rules.row_filter``).
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import Kind


def update_without_where(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.row_changes:
        if change.kind != Kind.UPDATE:
            continue
        # here, not at the top: the judgement of conditions loads only for statements that change rows
        from lineage.decide.rules.row_filter import unfiltered_reason

        reason = unfiltered_reason(change, context.catalog.columns, context.catalog.default_schema, facts.dialect)
        if reason:
            yield Finding("update_without_where", f"updates every row of {change.table} ({reason})", change.table)
