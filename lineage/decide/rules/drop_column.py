"""drop_column: a column disappears, by ALTER TABLE ... DROP COLUMN or by CREATE OR REPLACE.

    ALTER TABLE crm.customers DROP COLUMN email
    -> drop_column (require_approval): drops column email of crm.customers
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import is_create


def drop_column(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "dropped_column":
            how = "replaces the table without" if is_create(facts.kind) else "drops"
            yield Finding("drop_column", f"{how} column {change.column} of {change.table}", f"{change.table}.{change.column}")
