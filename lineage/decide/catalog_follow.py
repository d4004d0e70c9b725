"""After a statement ran: does the catalog still describe the database, or must it be read again?

Every adapter asks this one question through ``Governor.end``; an adapter that can read the
catalog again (Airflow's, per connection) does so before the next statement is analysed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineage.model import Decision
from lineage.decide.analysis.kinds import CREATING_FROM_QUERIES, is_ddl, is_drop

if TYPE_CHECKING:
    from lineage.decide.engine import Engine



def catalog_follows(engine: "Engine", decision: Decision) -> bool:
    """True when the catalog still describes the database after ``decision`` ran, following
    the change itself where it can: a relation created from a query (CREATE ... AS, a view:
    ``Engine.learn``), a rename of a relation whose columns it knows (the new name gets them:
    dbt's ``x`` -> ``x__dbt_backup``, ``x__dbt_tmp`` -> ``x`` swap), a DROP (a stale entry only
    describes a relation the database no longer has). Any other DDL: False (read it again).

    ``insert into t select ...`` -> True (no DDL); ``create schema s`` -> True (nothing in it yet);
    ``alter table t add column c int`` -> False;
    ``alter table t__dbt_tmp rename to t`` with t__dbt_tmp's columns known -> True, and t has them.
    """
    facts = decision.facts
    if not is_ddl(facts.kind):
        return True
    if facts.kind in CREATING_FROM_QUERIES and engine.learn(decision):
        return True
    if is_drop(facts.kind):
        return True
    if facts.kind == "create_schema" and not facts.writes and not facts.opaque:
        return True  # a new schema holds no relation yet (one created with elements in it is another kind)
    renames = [change for change in facts.schema_changes if change.change == "renamed_table"]
    if not renames or len(renames) != len(facts.schema_changes):
        return False
    catalog = engine.catalog
    for change in renames:
        columns = catalog.columns(change.table)
        if columns is None or not change.new_name:
            return False
        new_name = change.new_name if "." in change.new_name else ".".join([*change.table.split(".")[:-1], change.new_name])
        if catalog.columns(new_name) != columns:
            catalog.add_table(new_name, columns)
    return True
