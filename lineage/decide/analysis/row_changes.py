"""The rows an UPDATE, a DELETE or a MERGE action touches, as the statement spells them.

    DELETE FROM crm.orders o USING crm.customers c WHERE o.customer_id = c.id
    -> RowChange("delete", "analytics.crm.orders", target="o",
                 condition=o.customer_id = c.id, relations=(("c", crm.customers),))
    MERGE INTO crm.orders t USING staging.o s ON true WHEN MATCHED THEN DELETE
    -> RowChange("delete", ..., condition=TRUE, relations=(("s", staging.o),), clause="MERGE ... ON")

Facts only: whether the condition filters anything is judged by the rules
(``lineage.decide.rules.row_filter``). Conditions are copied before columns are qualified, so they
keep the names the statement wrote (the judgement resolves them itself, as the server would).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from sqlglot import exp

from lineage.model import RowChange


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
    return changes


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
            kind = "update"
        elif isinstance(then, exp.Delete) or (isinstance(then, exp.Var) and then.name.upper() == "DELETE"):
            kind = "delete"
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
