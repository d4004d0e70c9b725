"""drop_table: dropping a table, view, materialized view, foreign table, schema or database,
or every object a role owns (``DROP OWNED BY``).

    DROP TABLE analytics.public.orders
    -> drop_table (block): drops table analytics.public.orders

dbt's own swap relations (``x__dbt_tmp``, ``x__dbt_backup``) are not reported when dbt drops
them for the node that builds ``x``: that is how dbt replaces a model, not a loss of data
(``lineage.decide.dbt_swap``). From anyone else, or for another node, a swap-shaped name is a table.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.analysis.drops import OWNED
from lineage.decide.dbt_swap import own_swap
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def drop_table(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "dropped_table" and not own_swap(context.identity, change):
            if change.object_kind == OWNED:
                yield Finding("drop_table", f"drops every object role {change.table} owns, tables included (DROP OWNED)", None)
            else:
                yield Finding("drop_table", f"drops {change.object_kind} {change.table}", change.table)
