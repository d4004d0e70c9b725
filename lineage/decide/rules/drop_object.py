"""drop_object: dropping anything that is not a relation: a type, domain, function, sequence,
index, extension, server, ... (triggers, rules and policies: ``disable_safety``; roles:
``privilege_change``; tables, views and schemas: ``drop_table``).

    DROP FUNCTION crm.twice(numeric)
    -> drop_object (require_approval): drops function crm.twice (whatever calls it breaks)
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.analysis.drops import SAFETY_KINDS
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def drop_object(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "dropped_object" and change.object_kind not in SAFETY_KINDS:
            yield Finding("drop_object", f"drops {change.object_kind} {change.table} (whatever uses it breaks)", change.table)
