"""The facts of CREATE, DROP, ALTER and TRUNCATE: the kind, what is written, and each schema
change (dropped, added, retyped or renamed columns; dropped, replaced, renamed or truncated
relations) that the schema-change rules judge. A form the analysis does not know is opaque.

    ALTER TABLE crm.orders DROP COLUMN amount -> alter_table; dropped_column crm.orders.amount
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.qualify_columns import qualify_columns

from lineage.decide.analysis.dml import values_as_query
from lineage.decide.analysis.drops import KNOWN_KINDS, OWNED, RELATION_KINDS, ROLE_KINDS, SAFETY_KINDS, DropInfo, kind_of
from lineage.decide.names import dbt_logical_name, is_dbt_intermediate
from lineage.model import OpaquePart, SchemaChange
from lineage.decide.analysis.kinds import Kind

def rewrites_column(action: exp.AlterColumn, table: exp.Table) -> bool:
    """``ALTER COLUMN c TYPE t USING e``: True unless ``e`` is ``c`` itself or ``CAST(c AS t)``,
    which keep every value (or fail); any other expression computes new values for every row.

    >>> from sqlglot import parse_one
    >>> rewrites_column(parse_one("ALTER TABLE o ALTER COLUMN a TYPE int USING NULL").args["actions"][0], exp.to_table("o"))
    True
    """
    using = action.args.get("using")
    if not isinstance(using, exp.Expression):  # no USING (the parser leaves False)
        return False
    value = using
    while isinstance(value, exp.Paren):
        value = value.this
    if type(value) is exp.Cast and value.to == action.args.get("dtype"):
        value = value.this
        while isinstance(value, exp.Paren):
            value = value.this
    return not (isinstance(value, exp.Column) and value.name == action.name and not value.args.get("db")
                and value.table in ("", table.name))


def type_of(columns: dict[str, str], name: str | None) -> str | None:
    if not name:
        return None
    lowered = name.lower()
    for column, column_type in columns.items():
        if column.lower() == lowered:
            return column_type
    return None


class DdlFacts:
    """The DDL part of the statement analyzer (``lineage.decide.analysis.facts``)."""

    def _create(self, tree: exp.Create) -> None:
        kind = (tree.args.get("kind") or "").upper()
        target = tree.this
        columns_declared: list[str] = []
        if isinstance(target, exp.Schema):
            columns_declared = [column.name for column in target.expressions if isinstance(column, exp.ColumnDef)]
            target = target.this
        if kind in ("TABLE", "VIEW"):
            query = tree.expression
            if isinstance(target, exp.Table):
                name = self.table_name(target)
                has_query = isinstance(query, (exp.Query, exp.Subquery, exp.Values))
                self.facts.kind = (Kind.CREATE_TABLE_AS if has_query else Kind.CREATE_TABLE) if kind == "TABLE" else Kind.CREATE_VIEW
                if name:
                    self._record_write(target)
                    if tree.args.get("replace"):
                        if kind == "TABLE":  # whether it exists is the rule's question (replace_table)
                            self.changes.append(SchemaChange("replaced_table", name, dbt_swap=is_dbt_intermediate(name)))
                        self._replace_changes(name, query if has_query else None, columns_declared)
                if has_query:
                    self._physical_reads(query)
                    self._star_reads(query)
                    qualified = self._qualify_columns(query)
                    if isinstance(qualified, exp.Values):
                        qualified = values_as_query(qualified, self.dialect)
                    names, per_position = self._trace(qualified) if qualified is not None else ([], [])
                    self.facts.output_columns = tuple(names)
                    if name:
                        self._map_edges(dbt_logical_name(name), columns_declared or names, per_position)
            return
        if kind == "SCHEMA" or kind == "DATABASE":
            self.facts.kind = f"create_{kind.lower()}"
            return
        if kind == "INDEX":
            self.facts.kind = Kind.CREATE_INDEX
            table = target.args.get("table") if isinstance(target, exp.Index) else None
            if isinstance(table, exp.Table):
                self._record_write(table)
            return
        if kind in ("FUNCTION", "PROCEDURE", "TRIGGER", "MACRO", "RULE"):
            self.facts.kind = f"create_{kind.lower()}"
            self.opaque.append(OpaquePart("code_body", f"CREATE {kind} defines code that runs later, outside this analysis"))
            return
        self.facts.kind = f"create_{kind.lower() or 'object'}"
        if kind not in ("SEQUENCE", "TYPE", "EXTENSION", "STAGE", "TAG"):
            self.opaque.append(OpaquePart("unsupported_statement", f"CREATE {kind or 'statement'} is not understood by the analysis"))

    def _replace_changes(self, name: str, query: exp.Expression | None, declared: list[str]) -> None:
        """CREATE OR REPLACE on an existing table drops the columns the new definition lacks."""
        existing = self.catalog.columns(name)
        if not existing:
            return
        new_columns = set(c.lower() for c in declared)
        if query is not None and not declared:
            probe = query
            while isinstance(probe, exp.Subquery):
                probe = probe.this
            if isinstance(probe, exp.Query):
                try:
                    qualified = qualify_columns(probe.copy(), self.catalog.sqlglot_schema(), allow_partial_qualification=True)
                    new_columns = {select.alias_or_name.lower() for select in qualified.selects}
                except Exception:
                    return
        for column in existing:
            if column.lower() not in new_columns and "*" not in new_columns:
                self.changes.append(SchemaChange("dropped_column", name, column=column, old_type=existing[column]))

    def _drop(self, tree: exp.Drop) -> None:
        kind = kind_of(tree)
        self.facts.kind = f"drop_{kind.replace(' ', '_')}"
        names: list[str] = []
        for target in tree.args.get("tables") or [tree.this]:
            if isinstance(target, exp.Table):
                name = self.table_name(target) or target.sql(self.dialect)
                if kind in ("schema", "database"):
                    name = ".".join(part.name for part in (target.args.get("db"), target.this) if part is not None and part.name) or target.name
                names.append(name)
            elif target is not None:
                names.append(target.sql(self.dialect))
        known = kind if kind in KNOWN_KINDS else None
        self._record_drop(DropInfo(known, tuple(names), bool(tree.args.get("cascade")), words=kind.upper()))

    def _record_drop(self, drop: DropInfo) -> None:
        """Every kind of DROP is a fact for some rule; a kind the analysis does not know is refused."""
        if drop.kind is None:
            self.opaque.append(OpaquePart("unsupported_statement", f"DROP {drop.words or 'statement'}: not a kind of object the analysis knows"))
            return
        self.writes.extend(drop.names)
        if drop.kind in ROLE_KINDS:
            self.facts.privileges = self.facts.privileges + (
                {"statement": f"drop_{drop.kind}", "grant_option": False, "to_public": False, "text": self.parsed.sql[:200]},)
            return
        if drop.kind in SAFETY_KINDS:
            self.facts.safety_disabled = self.facts.safety_disabled + (self.parsed.sql,)
        for name in drop.names or ("(unnamed)",):
            if drop.kind in RELATION_KINDS or drop.kind == OWNED:
                swap = drop.kind in RELATION_KINDS and is_dbt_intermediate(name)
                self.changes.append(SchemaChange("dropped_table", name, object_kind=drop.kind, dbt_swap=swap, cascade=drop.cascade))
            else:
                self.changes.append(SchemaChange("dropped_object", name, object_kind=drop.kind, cascade=drop.cascade))

    def _alter(self, tree: exp.Alter) -> None:
        kind = (tree.args.get("kind") or "table").lower()
        self.facts.kind = f"alter_{kind}"
        target = tree.this
        name = self.table_name(target) if isinstance(target, exp.Table) else None
        if not name:
            self.opaque.append(OpaquePart("unsupported_statement", "ALTER of an object the analysis cannot name"))
            return
        self.writes.append(dbt_logical_name(name))
        existing = self.catalog.columns(name) or {}
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.Drop):
                for column in action.args.get("tables") or [action.this]:
                    column_name = column.name if isinstance(column, (exp.Column, exp.Identifier, exp.Table)) else None
                    if (action.args.get("kind") or "COLUMN").upper() != "COLUMN":
                        self.opaque.append(OpaquePart("unsupported_statement", f"ALTER ... DROP {action.args.get('kind')}"))
                        continue
                    self.changes.append(SchemaChange("dropped_column", name, column=column_name, old_type=type_of(existing, column_name),
                                                     cascade=bool(action.args.get("cascade"))))
            elif isinstance(action, exp.ColumnDef):
                constraints = [constraint.args.get("kind") for constraint in action.args.get("constraints") or []]
                not_null = any(isinstance(c, exp.NotNullColumnConstraint) and not c.args.get("allow_null") for c in constraints)
                not_null = not_null or any(isinstance(c, exp.PrimaryKeyColumnConstraint) for c in constraints)
                has_default = any(isinstance(c, (exp.DefaultColumnConstraint, exp.GeneratedAsIdentityColumnConstraint, exp.AutoIncrementColumnConstraint)) for c in constraints)
                column_type = action.args.get("kind")
                self.changes.append(
                    SchemaChange(
                        "added_column", name, column=action.name,
                        new_type=column_type.sql(self.dialect) if column_type else None,
                        not_null=not_null, has_default=has_default,
                    )
                )
            elif isinstance(action, exp.AlterColumn):
                column_name = action.name
                if action.args.get("dtype") is not None:
                    self.changes.append(
                        SchemaChange("retyped_column", name, column=column_name, old_type=type_of(existing, column_name), new_type=action.args["dtype"].sql(self.dialect),
                                     rewritten=rewrites_column(action, target))
                    )
                elif action.args.get("allow_null") is False:
                    self.changes.append(SchemaChange("not_null_added", name, column=column_name, has_default=column_name in existing and False))
                elif action.args.get("drop") or action.args.get("default") is not None or action.args.get("allow_null") is True or action.args.get("comment") is not None:
                    continue
                else:
                    self.opaque.append(OpaquePart("unsupported_statement", f"ALTER COLUMN {column_name} form not understood"))
            elif isinstance(action, exp.RenameColumn):
                old = action.this.name if action.this is not None else None
                new = action.args.get("to").name if action.args.get("to") is not None else None
                self.changes.append(SchemaChange("renamed_column", name, column=old, new_name=new, old_type=type_of(existing, old)))
            elif isinstance(action, exp.AlterRename):
                new_table = action.this
                new_name = new_table.name if isinstance(new_table, exp.Table) else str(new_table)
                swap = is_dbt_intermediate(name) or is_dbt_intermediate(new_name)
                self.changes.append(SchemaChange("renamed_table", name, new_name=new_name, object_kind=kind, dbt_swap=swap))
                if swap:
                    self.writes[-1] = dbt_logical_name(name) if is_dbt_intermediate(name) else name
            elif isinstance(action, (exp.AlterSet,)) or type(action).__name__ in ("AddConstraint", "AlterDistStyle", "AlterSortKey", "Comment"):
                continue
            else:
                self.opaque.append(OpaquePart("unsupported_statement", f"ALTER action {type(action).__name__} not understood"))

    def _truncate(self, tree: exp.TruncateTable) -> None:
        self.facts.kind = Kind.TRUNCATE
        for target in tree.expressions:
            if isinstance(target, exp.Table):
                name = self.table_name(target)
                if name:
                    self.writes.append(name)
                    self.changes.append(SchemaChange("truncated_table", name))
