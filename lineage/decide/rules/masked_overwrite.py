"""masked_overwrite: an UPDATE (upsert, MERGE ... UPDATE) that would store values this identity
reads masked into classified columns: the masked values replace the raw ones.

    INSERT INTO crm.customers SELECT * FROM crm.customers WHERE id = 1
        ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn            (an identity that reads pii.ssn masked)
    -> masked_overwrite (block): would overwrite crm.customers.ssn (pii.ssn) with crm.customers.ssn as this identity reads it: masked ...

The masking step rewrites what the statement reads, so a value read masked and written back is
stored masked. Only identities that read a tag masked can trigger it; writing masked values into
new rows or other tables is what masking is for, and is not a finding. When the column lineage is
incomplete, a classified source read masked may reach any updated classified column (fail closed).
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import Kind


def masked_overwrite(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    updated = {change.table.lower() for change in facts.row_changes if change.kind == Kind.UPDATE}
    if not updated:
        return
    for target_column, sources in facts.lineage.edges.items():
        target_table, _, column = target_column.rpartition(".")
        if target_table.lower() not in updated or not _masked_tags(context, target_table, column):
            continue
        for source in sorted(sources):
            source_table, _, source_column = source.rpartition(".")
            masked = _masked_tags(context, source_table, source_column)
            if masked:
                yield Finding(
                    "masked_overwrite",
                    f"would overwrite {target_column} ({', '.join(_masked_tags(context, target_table, column))}) with {source} as this identity "
                    f"reads it: masked ({', '.join(masked)}), so the raw values would be lost. Run it as an identity that reads "
                    f"the column raw, or allow it with a guardrails entry for masked_overwrite",
                    target_table,
                    detail={"source": source, "target": target_column},
                )
    if facts.lineage_complete:
        return
    for target in sorted(updated):
        if not any(_masked_tags(context, target, column) for column in context.classifier.classified_columns(target, context.catalog)):
            continue
        for table in facts.reads:
            if any(_masked_tags(context, table, column) for column in context.classifier.classified_columns(table, context.catalog)):
                yield Finding(
                    "masked_overwrite",
                    f"updates classified columns of {target} from {table}, which this identity reads masked, and its column lineage "
                    f"is incomplete, so it cannot prove no masked value is written over a raw one",
                    target,
                )


def _masked_tags(context: RuleContext, table: str, column: str) -> list[str]:
    return [tag for tag in context.classifier.tags(table, column) if not context.sees_raw(tag)]
