"""Whether a rename or drop is a dbt node swapping its own relation in.

dbt replaces a model ``m`` atomically: it builds ``m__dbt_tmp``, renames ``m`` to
``m__dbt_backup``, renames ``m__dbt_tmp`` to ``m`` and drops ``m__dbt_backup``. That is no
rename or loss of data, but only when dbt does it (the run identity's source is ``dbt``) for
the node being built (the identity's ``dbt_relation`` attribute, set by ``lineage dbt``'s
sidecar) and only for that node's own names. Anything else with a swap-shaped name is judged
like any table: ``crm.orders`` renamed to ``orders__dbt_backup`` and dropped is a drop.

    own_swap(RunIdentity("svc:dbt", source="dbt", attributes={"dbt_relation": "db.main.m"}),
             SchemaChange("renamed_table", "db.main.m", new_name="m__dbt_backup"))
    -> True (the same change from any other source, or for another node: False)
"""

from __future__ import annotations

from lineage.decide.names import DBT_INTERMEDIATE_SUFFIXES, split_name
from lineage.identity.run_identity import RunIdentity
from lineage.model import SchemaChange

DBT_RELATION = "dbt_relation"  # RunIdentity.attributes key: database.schema.identifier of the node being built
TMP, BACKUP = DBT_INTERMEDIATE_SUFFIXES


def node_relation(identity: RunIdentity) -> str | None:
    """The relation the dbt node that sends the statement builds, or None when dbt sends none."""
    if identity.source != "dbt":
        return None
    relation = (identity.attributes or {}).get(DBT_RELATION)
    return relation.lower() if isinstance(relation, str) and relation.count(".") >= 1 else None


def _same(name: str, relation: str) -> bool:
    """Same relation, comparing the parts both names have (at least schema and table)."""
    left, right = split_name(name.lower()), split_name(relation.lower())
    shared = min(len(left), len(right))
    return shared >= 2 and left[-shared:] == right[-shared:]


def own_swap(identity: RunIdentity, change: SchemaChange) -> bool:
    """True for the node's own swap: ``m -> m__dbt_backup``, ``m__dbt_tmp -> m``, DROP of either,
    CREATE OR REPLACE of ``m`` or either."""
    relation = node_relation(identity)
    if relation is None:
        return False
    model = split_name(relation)[-1]
    if change.change == "renamed_table":
        new = (change.new_name or "").lower()
        return (_same(change.table, relation) and new == model + BACKUP) or (_same(change.table, relation + TMP) and new == model)
    if change.change == "dropped_table":
        return _same(change.table, relation + TMP) or _same(change.table, relation + BACKUP)
    if change.change == "replaced_table":  # CREATE OR REPLACE of the node's own relation or its swap names
        return any(_same(change.table, relation + suffix) for suffix in ("", TMP, BACKUP))
    return False
