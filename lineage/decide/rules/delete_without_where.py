"""delete_without_where: a DELETE (or MERGE ... THEN DELETE) whose condition filters nothing.

    DELETE FROM crm.orders WHERE id::text = id::text
    -> delete_without_where (block): deletes every row of crm.orders (WHERE CAST(id AS TEXT) = CAST(id AS TEXT) is no filter: ...)
    MERGE INTO crm.orders t USING crm.customers s ON true WHEN MATCHED THEN DELETE
    -> delete_without_where (block): deletes every row of crm.orders (MERGE ... ON TRUE is always true)

A filter is defined positively (``lineage.decide.rules.row_filter``): some conjunct compares a column
of the table with a literal, a parameter or a value from another relation. Anything else,
however it is spelled, is a DELETE without WHERE.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import Kind


def delete_without_where(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.row_changes:
        if change.kind != Kind.DELETE:
            continue
        # here, not at the top: the judgement of conditions loads only for statements that change rows
        from lineage.decide.rules.row_filter import unfiltered_reason

        reason = unfiltered_reason(change, context.catalog.columns, context.catalog.default_schema, facts.dialect)
        if reason:
            yield Finding("delete_without_where", f"deletes every row of {change.table} ({reason})", change.table)
