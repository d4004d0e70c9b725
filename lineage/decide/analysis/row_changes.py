"""The rows an UPDATE, a DELETE or a MERGE action touches, as the statement spells them.

    DELETE FROM crm.orders o USING crm.customers c WHERE o.customer_id = c.id
    -> RowChange("delete", "analytics.crm.orders", target="o",
                 condition=o.customer_id = c.id, relations=(("c", crm.customers),))
    MERGE INTO crm.orders t USING staging.o s ON true WHEN MATCHED THEN DELETE
    -> RowChange("delete", ..., condition=TRUE, relations=(("s", staging.o),), clause="MERGE ... ON")
    INSERT INTO crm.orders SELECT * FROM crm.orders ON CONFLICT (id) DO UPDATE SET amount = 0
    -> RowChange("update", ..., condition=orders.id = excluded.id,
                 relations=(("excluded", (SELECT * FROM crm.orders)),), clause=UPSERT)

An upsert (``ON CONFLICT DO UPDATE``, ``ON DUPLICATE KEY UPDATE``, ``INSERT OR REPLACE``) updates
the target rows whose key equals a key of its source rows (and its DO UPDATE's WHERE): the same
rows as ``UPDATE t ... FROM (source) excluded WHERE t.key = excluded.key``.

Facts only: whether the condition filters anything is judged by the rules
(``lineage.decide.rules.row_filter``). Conditions are copied before columns are qualified, so they
keep the names the statement wrote (the judgement resolves them itself, as the server would).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from sqlglot import exp

from lineage.model import RowChange
from lineage.decide.analysis.kinds import Kind


def row_changes(nodes: Iterable[exp.Expression], table_name: Callable[[exp.Table], str | None]) -> list[RowChange]:
    changes: list[RowChange] = []
    for node in nodes:
        target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        if not isinstance(target, exp.Table):
            continue
        name = table_name(target) or target.sql()
        alias = target.alias_or_name
        ctes = tuple(_ctes(node))
        if isinstance(node, (exp.Delete, exp.Update)):
            where = node.args.get("where")
            kind = type(node).__name__.lower()
            condition = where.this.copy() if where is not None else None
            changes.append(RowChange(kind, name, alias, condition, tuple(_relations(node)), ctes=ctes))
        elif isinstance(node, exp.Merge):
            changes.extend(replace(change, ctes=ctes) for change in _merge_changes(node, name, alias))
        elif isinstance(node, exp.Insert):
            upsert = _upsert_change(node, name, alias)
            if upsert is not None:
                changes.append(replace(upsert, ctes=ctes))
    return changes


UPSERT = "INSERT ... ON CONFLICT DO UPDATE"
_UNKNOWN_KEY = "unique key"  # ON CONSTRAINT, DuckDB's implicit key, INSERT OR REPLACE: some key of the table


def _upsert_change(node: exp.Insert, name: str, alias: str) -> RowChange | None:
    conflict = node.args.get("conflict")
    replacing = str(node.args.get("alternative") or "").upper() == "REPLACE"
    action = conflict.args.get("action") if isinstance(conflict, exp.OnConflict) else None
    updating = isinstance(conflict, exp.OnConflict) and (bool(conflict.args.get("duplicate")) or "UPDATE" in (action.name if action is not None else "").upper())
    source = node.expression
    if not (updating or replacing) or source is None:
        return None  # a plain INSERT, DO NOTHING, INSERT OR IGNORE, DEFAULT VALUES: no stored row changes
    keys = [_unparen(key.this if isinstance(key, exp.Ordered) else key) for key in (conflict.args.get("conflict_keys") or [])] if updating else []
    names = [key.name for key in keys] if keys and all(isinstance(key, (exp.Column, exp.Identifier)) for key in keys) else [_UNKNOWN_KEY]
    condition: exp.Expression = exp.and_(*(
        exp.EQ(this=exp.column(key, table=alias, quoted=True), expression=exp.column(key, table="excluded", quoted=True)) for key in names))
    where = conflict.args.get("where") if updating else None
    if isinstance(where, exp.Where):
        condition = exp.and_(condition, where.this.copy())
    rows = source.copy()
    excluded = rows if isinstance(rows, exp.Values) else exp.Subquery(this=rows)
    excluded.set("alias", exp.TableAlias(this=exp.to_identifier("excluded")))
    return RowChange("update", name, alias, condition, (("excluded", excluded),), clause=UPSERT)


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _ctes(node: exp.Expression) -> list[tuple[str, exp.Expression]]:
    """The WITH queries the statement's names may refer to: its own and its enclosing statements'."""
    out: list[tuple[str, exp.Expression]] = []
    current: exp.Expression | None = node
    while current is not None:
        with_ = current.args.get("with_") if isinstance(current, exp.Expression) else None
        if isinstance(with_, exp.With):
            for cte in with_.expressions:
                if not any(cte.alias_or_name == name for name, _ in out) and cte.this is not node:
                    copy = cte.this.copy()
                    columns = cte.args.get("alias")
                    out.append((cte.alias_or_name, exp.Subquery(this=copy, alias=columns.copy()) if columns is not None else copy))
        current = current.parent
    return out


def _relations(node: exp.Expression) -> list[tuple[str, exp.Expression]]:
    """``DELETE ... USING a, b JOIN c`` and ``UPDATE ... FROM a, b JOIN c``: every relation by alias."""
    sources: list[exp.Expression] = []
    from_ = node.args.get("from_")
    if from_ is not None:
        sources += [from_.this, *from_.expressions]
    sources += node.args.get("using") or []
    sources += [join.this for join in node.args.get("joins") or []]
    out: list[tuple[str, exp.Expression]] = []
    for source in sources:
        out.extend(_flatten(source))
    return out


def _flatten(source: exp.Expression) -> list[tuple[str, exp.Expression]]:
    joins = source.args.get("joins") or []
    bare = source.copy()
    bare.set("joins", None)
    out = [(source.alias_or_name, bare)]
    for join in joins:
        out.extend(_flatten(join.this))
    return out


def _merge_changes(node: exp.Merge, name: str, alias: str) -> list[RowChange]:
    """Each ``WHEN MATCHED ... THEN DELETE|UPDATE`` touches the target rows ON matches (and its
    own AND); ``WHEN NOT MATCHED BY SOURCE`` the rows it does not match."""
    using = node.args.get("using")
    on = node.args.get("on")
    relations = tuple(_flatten(using)) if using is not None else ()
    whens = node.args.get("whens")
    changes = []
    for when in whens.expressions if whens is not None else []:
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            kind = Kind.UPDATE
        elif isinstance(then, exp.Delete) or (isinstance(then, exp.Var) and then.name.upper() == "DELETE"):
            kind = Kind.DELETE
        else:
            continue
        if not when.args.get("matched") and not when.args.get("source"):
            continue  # WHEN NOT MATCHED [BY TARGET] inserts
        if on is None or using is None:
            rows: exp.Expression | None = None
        elif when.args.get("source"):
            rows = exp.not_(exp.Exists(this=exp.select("1").from_(using.copy()).where(on.copy())))
        else:
            rows = on.copy()
        extra = when.args.get("condition")
        if extra is not None:
            rows = exp.and_(rows, extra.copy()) if rows is not None else extra.copy()
        by_source = bool(when.args.get("source"))  # the source's rows are not joined in: only inside NOT EXISTS
        changes.append(RowChange(kind, name, alias, rows, () if by_source else relations, clause="MERGE ... ON"))
    return changes
