"""The facts of INSERT, UPDATE, DELETE and MERGE (also nested in a query's CTEs): the target
written, what RETURNING and WHERE read of it, and column lineage into the target, traced by
rewriting each assignment as the SELECT it evaluates.

    UPDATE crm.customers SET email = s.email FROM staging s WHERE ...
    -> writes crm.customers; lineage crm.customers.email <- staging.email
"""

from __future__ import annotations

from typing import Iterable

from sqlglot import exp

from lineage.decide.analysis.row_changes import row_changes
from lineage.decide.names import dbt_logical_name
from lineage.model import OpaquePart

DML_TYPES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def dml_nodes(tree: exp.Expression) -> list[exp.Expression]:
    """Every INSERT/UPDATE/DELETE/MERGE in the tree, the actions inside MERGE's WHEN excluded."""
    return [node for node in tree.find_all(*DML_TYPES) if not isinstance(node.parent, exp.When)]


def values_as_query(values: exp.Values, dialect: str) -> exp.Query | None:
    """The rows of a VALUES list that compute something, as the SELECTs they evaluate.

    ``VALUES (1, 'a'), ((SELECT max(ssn) FROM crm.customers), 'b')``
    -> ``SELECT (SELECT max(ssn) ...) AS column1, 'b' AS column2`` (duckdb names them col0, col1);
    rows of literals only carry no lineage and are skipped, so a bulk insert costs one scan.
    """
    rows = [row for row in values.expressions if isinstance(row, exp.Tuple) and row.find(exp.Column, exp.Query)]
    if not rows:
        return None
    name = "col{}" if dialect == "duckdb" else "column{}"
    first = 0 if dialect == "duckdb" else 1
    selects = [exp.select(*(exp.alias_(value.copy(), name.format(first + position))
                            for position, value in enumerate(row.expressions))) for row in rows]
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


class DmlFacts:
    """The DML part of the statement analyzer (``lineage.decide.analysis.facts``)."""

    def _dml_statement(self, tree: exp.Expression) -> None:
        self.facts.kind = type(tree).__name__.lower()
        nested = dml_nodes(tree)
        self._physical_reads(tree, exclude=self._dml_targets(nested))
        self._star_reads(tree)
        tree = self._qualify_columns(tree)
        for node in dml_nodes(tree):
            self._dml(node, nested=node is not tree)

    def _row_changes(self, nodes: list[exp.Expression]) -> None:
        """Before columns are qualified: the judgement reads names as the statement wrote them."""
        self.facts.row_changes = tuple(row_changes(nodes, self.table_name))

    def _dml_targets(self, nodes: Iterable[exp.Expression]) -> set[int]:
        targets = set()
        for node in nodes:
            target = node.this.this if isinstance(node.this, exp.Schema) else node.this
            if isinstance(target, exp.Table):
                targets.add(id(target))
        return targets

    def _dml(self, node: exp.Expression, nested: bool) -> None:
        target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        if not isinstance(target, exp.Table):
            self.opaque.append(OpaquePart("unknown_target", f"{type(node).__name__} target is not a table"))
            return
        target_name = self._record_write(target)
        if not target_name:
            self.opaque.append(OpaquePart("unknown_target", f"{type(node).__name__} into a table function"))
            return
        logical = dbt_logical_name(target_name)
        returning = node.args.get("returning")
        if returning is not None:
            self.facts.returning = self.facts.returning + tuple(
                item.alias_or_name for item in returning.expressions
            )
            self._note_target_columns(target_name, returning)
        if isinstance(node, exp.Insert):
            self._insert_lineage(node, target_name, logical)
        elif isinstance(node, exp.Update):
            self._update_lineage(node, target, logical)
        elif isinstance(node, exp.Merge):
            self._merge_lineage(node, target, logical)
        elif isinstance(node, exp.Delete):
            where = node.args.get("where")
            if where is not None:
                self._note_target_columns(target_name, where)

    def _insert_lineage(self, node: exp.Insert, target_name: str, logical: str) -> None:
        source = node.expression
        if isinstance(source, exp.Values):
            source = values_as_query(source, self.dialect)
        if not isinstance(source, exp.Query):
            return
        if node.args.get("with_") is not None and source.args.get("with_") is None:
            source = source.copy()
            source.set("with_", node.args["with_"].copy())
        names, per_position = self._trace(source)
        if isinstance(node.this, exp.Schema) and node.this.expressions:
            target_columns = [column.name for column in node.this.expressions]
        else:
            known = self.catalog.columns(target_name)
            target_columns = list(known) if known else names
        self._map_edges(logical, target_columns, per_position)

    def _update_lineage(self, node: exp.Update, target: exp.Table, logical: str) -> None:
        select = exp.select(*self._assignments(node.expressions)).from_(target.copy())
        from_ = node.args.get("from_")
        if from_ is not None:
            for extra in [from_.this, *from_.expressions]:
                select = select.join(extra.copy(), join_type="cross")
        where = node.args.get("where")
        if where is not None:
            select = select.where(where.this.copy())
        self._synthetic_lineage(select, logical)

    def _merge_lineage(self, node: exp.Merge, target: exp.Table, logical: str) -> None:
        using = node.args.get("using")
        on = node.args.get("on")
        if using is None:
            return
        projections: list[exp.Expression] = []
        whens = node.args.get("whens")
        for when in (whens.expressions if whens is not None else node.expressions):
            then = when.args.get("then")
            if isinstance(then, exp.Update):
                projections.extend(self._assignments(then.expressions))
            elif isinstance(then, exp.Insert):
                columns = then.this.expressions if isinstance(then.this, exp.Tuple) else []
                values = then.expression.expressions if isinstance(then.expression, exp.Tuple) else []
                for column, value in zip(columns, values):
                    projections.append(exp.alias_(value.copy(), exp.column(column.name).name, quoted=False))
        if not projections:
            return
        select = exp.select(*projections).from_(target.copy()).join(using.copy(), on=on.copy() if on is not None else None)
        self._synthetic_lineage(select, logical)

    def _assignments(self, assignments: Iterable[exp.Expression]) -> list[exp.Expression]:
        out = []
        for assignment in assignments:
            if isinstance(assignment, exp.EQ) and isinstance(assignment.this, exp.Column):
                out.append(exp.alias_(assignment.expression.copy(), assignment.this.name, quoted=False))
        return out

    def _synthetic_lineage(self, select: exp.Select, logical: str) -> None:
        """Trace DML assignments by rewriting them as the SELECT they evaluate."""
        names = [projection.alias_or_name for projection in select.selects]
        qualified = self._qualify_columns(select, note=False)
        _, per_position = self._trace(qualified, expected=len(names))
        self._map_edges(logical, names, per_position)

    def _map_edges(self, table: str, columns: list[str], per_position: list[dict[str, str]]) -> None:
        for column, edges in zip(columns, per_position):
            self.edges.setdefault(f"{table}.{column}", {}).update(edges)

    def _note_target_columns(self, target_name: str, node: exp.Expression) -> None:
        for column in node.find_all(exp.Column):
            if not isinstance(column.this, exp.Star):
                self.columns_read.setdefault(target_name, set()).add(column.name)
        if any(isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)) for item in node.find_all(exp.Star, exp.Column)):
            known = self.catalog.columns(target_name)
            self.columns_read.setdefault(target_name, set()).update(known or {"*"})
