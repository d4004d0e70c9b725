"""drop_cascade: DROP ... CASCADE also drops whatever depends on the object, which the catalog
cannot list (columns of a dropped type, defaults that use a sequence or function, views).

    DROP TYPE crm.money_t CASCADE
    -> drop_cascade (block): DROP TYPE crm.money_t CASCADE also drops every object that depends on it
       (table columns, defaults, views), which the catalog cannot list

dbt's swap relations (``x__dbt_backup``) are dropped with CASCADE by design and are not reported
when dbt drops them for the node that builds ``x`` (``lineage.decide.dbt_swap``).
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.dbt_swap import own_swap
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def drop_cascade(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if not change.cascade or own_swap(context.identity, change):
            continue
        what = f"column {change.column} of {change.table}" if change.change == "dropped_column" else f"{change.object_kind} {change.table}"
        yield Finding(
            "drop_cascade",
            f"DROP {what} CASCADE also drops every object that depends on it (table columns, defaults, views), "
            "which the catalog cannot list; drop the dependents first, or allow it with a guardrails entry for drop_cascade",
            change.table,
        )
