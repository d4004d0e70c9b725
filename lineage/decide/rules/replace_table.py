"""replace_table: CREATE OR REPLACE TABLE over a table that exists drops it and every row it held.

    CREATE OR REPLACE TABLE crm.orders AS SELECT * FROM crm.orders WHERE false   (crm.orders in the catalog)
    -> replace_table (block): replaces table crm.orders: CREATE OR REPLACE drops it with every row it holds ...
    CREATE OR REPLACE TABLE mart.new_table AS SELECT 1 AS x                      (not in the catalog, not classified)
    -> nothing: it creates a table

Judged like ``drop_table`` (block by default). A table the catalog does not know is still a
replacement when its name is classified by the policy, or when the catalog knows no table at all
(it was not loaded: whether the table exists cannot be told). A dbt node replacing its own
relation or its swap relations (``lineage.decide.dbt_swap``) is not reported, as for ``drop_table``.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.dbt_swap import own_swap
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def replace_table(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change != "replaced_table" or own_swap(context.identity, change):
            continue
        if context.catalog.columns(change.table) is not None:
            why = "it exists"
        elif context.classifier.is_classified_table(change.table):
            why = "the catalog does not list it, but the policy classifies its columns"
        elif not context.catalog.tables:
            why = "the catalog lists no table, so whether it exists cannot be told"
        else:
            continue
        yield Finding(
            "replace_table",
            f"replaces table {change.table} ({why}): CREATE OR REPLACE drops it with every row it holds. "
            f"Create the table under a new name (or CREATE TABLE IF NOT EXISTS), or allow it for this table with a guardrails entry for replace_table",
            change.table,
        )
