"""rename: renaming a table or a column breaks everything that reads it by name.

    ALTER TABLE crm.customers RENAME COLUMN email TO email_address
    -> rename (require_approval): renames column email of crm.customers to email_address

dbt's swap (``x__dbt_tmp`` -> ``x``, ``x`` -> ``x__dbt_backup``) is how dbt replaces a
model atomically and is not reported, but only when dbt sends it for the node that builds ``x``
(``lineage.decide.dbt_swap``); any other rename to or from a swap-shaped name is a rename.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.dbt_swap import own_swap
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def rename(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change == "renamed_table" and not own_swap(context.identity, change):
            yield Finding("rename", f"renames {change.object_kind} {change.table} to {change.new_name}", change.table)
        elif change.change == "renamed_column":
            yield Finding("rename", f"renames column {change.column} of {change.table} to {change.new_name}", f"{change.table}.{change.column}")
