"""StatementFacts from one parsed statement: kind, tables, column lineage, schema changes, opaque parts.

The analysis proves what it can and says what it cannot: anything it does not understand
becomes an ``OpaquePart`` (which the ``opaque_statement`` rule blocks by default), never a
silent allow.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify_columns import qualify_columns, quote_identifiers
from sqlglot.optimizer.qualify_tables import qualify_tables
from sqlglot.optimizer.scope import Scope, traverse_scope

from lineage.decide.analysis.column_lineage import IDENTITY, LineageBudgetExceeded, Tracer
from lineage.decide.analysis.commands import classify_command
from lineage.decide.analysis.calls import statement_calls
from lineage.decide.analysis.file_calls import file_calls
from lineage.decide.analysis.drops import KNOWN_KINDS, OWNED, RELATION_KINDS, ROLE_KINDS, SAFETY_KINDS, DropInfo, drop_of_command, kind_of
from lineage.decide.analysis.recursive_ctes import inside, recursive_self_references
from lineage.decide.analysis.row_changes import row_changes
from lineage.decide.analysis.session_settings import settings_in_tree, settings_of_alter, settings_of_pragma, settings_of_set
from lineage.decide.analysis.statements import ParsedStatement, get_dialect, split_statements
from lineage.decide.catalog import Catalog
from lineage.model import Lineage, OpaquePart, SchemaChange, SettingChange, StatementFacts
from lineage.decide.names import dbt_logical_name, is_dbt_intermediate

DEFAULT_BUDGET_SECONDS = 0.25

SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "sys", "system"}
FILE_NAME_CHARS = ("/", "\\", ".", ":")  # a DuckDB table name holding one of these may be read as a file


def _is_client(item: exp.Expression) -> bool:
    """``COPY ... FROM STDIN``: the rows come from the client, not from the server's files."""
    return isinstance(item, exp.Identifier) and not item.quoted and item.name.upper() in ("STDIN", "STDOUT")


def _path_of(item: exp.Expression, dialect: str) -> str:
    return item.name if isinstance(item, exp.Literal) and item.is_string else item.sql(dialect)
DML_TYPES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def _rewrites_column(action: exp.AlterColumn, table: exp.Table) -> bool:
    """``ALTER COLUMN c TYPE t USING e``: True unless ``e`` is ``c`` itself or ``CAST(c AS t)``,
    which keep every value (or fail); any other expression computes new values for every row.

    >>> from sqlglot import parse_one
    >>> _rewrites_column(parse_one("ALTER TABLE o ALTER COLUMN a TYPE int USING NULL").args["actions"][0], exp.to_table("o"))
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


def _dml_nodes(tree: exp.Expression) -> list[exp.Expression]:
    """Every INSERT/UPDATE/DELETE/MERGE in the tree, the actions inside MERGE's WHEN excluded."""
    return [node for node in tree.find_all(*DML_TYPES) if not isinstance(node.parent, exp.When)]


def analyze(sql: str, dialect: str, catalog: Catalog | None = None, budget: float = DEFAULT_BUDGET_SECONDS) -> list[StatementFacts]:
    """Facts for every statement in ``sql``.

    >>> [f.kind for f in analyze("drop table crm.customers; select 1", "postgres")]
    ['drop_table', 'select']
    """
    catalog = catalog or Catalog(dialect=dialect)
    return [analyze_statement(parsed, dialect, catalog, budget) for parsed in split_statements(sql, dialect)]


def analyze_statement(parsed: ParsedStatement, dialect: str, catalog: Catalog, budget: float = DEFAULT_BUDGET_SECONDS) -> StatementFacts:
    if parsed.expression is None:
        unsafe = parsed.error if parsed.unsafe else None
        return StatementFacts(parsed.index, parsed.sql, dialect, "unparseable", parse_error=parsed.error, unsafe_text=unsafe, lineage_complete=False)
    return _Analyzer(parsed, dialect, catalog, budget).run()


class _Analyzer:
    def __init__(self, parsed: ParsedStatement, dialect: str, catalog: Catalog, budget: float):
        self.parsed = parsed
        self.dialect = dialect
        self.catalog = catalog
        self.deadline = time.perf_counter() + budget if budget else None
        self.facts = StatementFacts(parsed.index, parsed.sql, dialect, "unknown")
        self.edges: dict[str, dict[str, str]] = {}
        self.reads: list[str] = []
        self.writes: list[str] = []
        self.system_reads: list[str] = []
        self.columns_read: dict[str, set[str]] = {}
        self.opaque: list[OpaquePart] = []
        self.changes: list[SchemaChange] = []
        self.settings: list[SettingChange] = []
        self.notes: list[str] = []
        self.lineage_complete = True

    # -- entry -------------------------------------------------------------------------

    def run(self) -> StatementFacts:
        expression = self.parsed.expression
        if isinstance(expression, exp.Command):
            return self._command(expression)
        self.facts.statement = expression
        self.opaque.extend(OpaquePart("recursive_self_reference", detail) for detail in recursive_self_references(expression, self.dialect))
        tree = expression.copy()
        qualified = self._qualify_tables(tree)
        self._row_changes(_dml_nodes(qualified))
        handler = self._handler(qualified)
        handler(qualified)
        self.settings.extend(settings_in_tree(qualified))
        parsed = self.parsed
        self.facts.calls = statement_calls(expression, parsed.sql, parsed.offset, self.dialect, parsed.keyword_calls)
        self.facts.files_read = self.facts.files_read + file_calls(expression, parsed.sql, parsed.offset, self.dialect)
        return self._finish(qualified)

    def _handler(self, node: exp.Expression):
        if isinstance(node, (exp.Query, exp.Values)):
            return self._query_statement
        if isinstance(node, DML_TYPES):
            return self._dml_statement
        if isinstance(node, exp.Create):
            return self._create
        if isinstance(node, exp.Drop):
            return self._drop
        if isinstance(node, exp.Alter):
            return self._alter
        if isinstance(node, exp.TruncateTable):
            return self._truncate
        if isinstance(node, (exp.Grant, exp.Revoke)):
            return self._grant
        if isinstance(node, exp.Copy):
            return self._copy
        if isinstance(node, exp.Export):
            return self._export
        if isinstance(node, (exp.Transaction, exp.Commit, exp.Rollback)):
            return self._simple("transaction")
        if isinstance(node, exp.Set):
            return self._set
        if isinstance(node, exp.Use):
            return self._simple("use")
        if isinstance(node, exp.Pragma):
            return self._pragma
        if isinstance(node, (exp.Describe, exp.Show, exp.Analyze, exp.Comment, exp.Summarize)):
            return self._simple(type(node).__name__.lower())
        return self._unsupported

    def _finish(self, expression: exp.Expression | None) -> StatementFacts:
        facts = self.facts
        reads = _unique(name for name in self.reads if name not in self.writes or facts.kind in ("update", "delete", "merge"))
        return replace(
            facts,
            reads=tuple(reads),
            writes=tuple(_unique(self.writes)),
            lineage=Lineage(self.edges),
            columns_read={table: frozenset(columns) for table, columns in self.columns_read.items()},
            schema_changes=tuple(self.changes),
            settings=tuple(self.settings),
            opaque=tuple(_unique_parts(self.opaque)),
            system_reads=tuple(_unique(self.system_reads)),
            lineage_complete=self.lineage_complete and not self.opaque,
            lineage_note="; ".join(_unique(self.notes)) or None,
            expression=expression,
        )

    # -- names ----------------------------------------------------------------------------

    def _qualify_tables(self, tree: exp.Expression) -> exp.Expression:
        try:
            tree = normalize_identifiers(tree, dialect=self.dialect)
            _mark_cte_references(tree)
            tree = qualify_tables(tree, db=self.catalog.default_schema, catalog=self.catalog.default_database, dialect=self.dialect)
            for node in _dml_nodes(tree):
                if node is not tree:
                    qualify_tables(node, db=self.catalog.default_schema, catalog=self.catalog.default_database, dialect=self.dialect)
            for values in tree.find_all(exp.Values):  # qualify_tables does not enter VALUES rows
                for table in values.find_all(exp.Table):
                    if not table.meta.get("cte_reference"):
                        self._fill_defaults(table)
            return tree
        except Exception as error:  # never let sqlglot's optimizer turn into an allow
            self.notes.append(f"tables not qualified: {type(error).__name__}: {error}")
            return tree

    def table_name(self, table: exp.Table) -> str | None:
        if not isinstance(table.this, exp.Identifier):
            return None
        parts = [part.name for part in (table.args.get("catalog"), table.args.get("db"), table.this) if part is not None and part.name]
        return ".".join(parts)

    def _fill_defaults(self, table: exp.Table) -> None:
        """Qualify a table sqlglot's qualify_tables does not visit (SELECT ... INTO)."""
        if not isinstance(table, exp.Table):
            return
        if not table.args.get("db") and self.catalog.default_schema:
            table.set("db", exp.to_identifier(self.catalog.default_schema))
        if table.args.get("db") and not table.args.get("catalog") and self.catalog.default_database:
            table.set("catalog", exp.to_identifier(self.catalog.default_database))

    def is_system(self, name: str) -> bool:
        parts = name.lower().split(".")
        return any(part in SYSTEM_SCHEMAS for part in parts[:-1]) or parts[-1].startswith(("pg_stat", "pg_catalog"))

    def _record_read(self, name: str) -> None:
        (self.system_reads if self.is_system(name) else self.reads).append(name)

    def _record_write(self, table: exp.Table) -> str | None:
        name = self.table_name(table)
        if name:
            self.writes.append(dbt_logical_name(name))
        return name

    # -- queries and DML ---------------------------------------------------------------------

    def _query_statement(self, tree: exp.Expression) -> None:
        into = tree.args.get("into") if isinstance(tree, exp.Select) else None
        self.facts.kind = "select_into" if into else ("select" if not isinstance(tree, exp.Values) else "values")
        nested_dml = _dml_nodes(tree)
        self._physical_reads(tree, exclude=self._dml_targets(nested_dml))
        self._star_reads(tree)
        query = self._qualify_columns(tree)
        names, per_position = self._trace(query)
        self.facts.output_columns = tuple(names)
        if into is not None:
            self._fill_defaults(into.this)
            target_name = self._record_write(into.this)
            if target_name:
                self._map_edges(dbt_logical_name(target_name), names, per_position)
        else:
            for name, edges in zip(names, per_position):
                self.edges.setdefault(name, {}).update(edges)
        for node in nested_dml:
            self._dml(node, nested=True)

    def _dml_statement(self, tree: exp.Expression) -> None:
        self.facts.kind = type(tree).__name__.lower()
        nested = _dml_nodes(tree)
        self._physical_reads(tree, exclude=self._dml_targets(nested))
        self._star_reads(tree)
        tree = self._qualify_columns(tree)
        for node in _dml_nodes(tree):
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
            source = _values_as_query(source, self.dialect)
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

    # -- reads, stars, columns ---------------------------------------------------------------

    def _physical_reads(self, tree: exp.Expression, exclude: set[int] = frozenset()) -> None:
        for table in tree.find_all(exp.Table):
            if id(table) in exclude or table.meta.get("cte_reference"):
                continue
            name = self.table_name(table)
            if name:
                self._record_read(name)
                self._replacement_scan(table)

    def _replacement_scan(self, table: exp.Table) -> None:
        """DuckDB reads a file for a table name that looks like one (``FROM 'data.csv'``, ``FROM "/x/y.parquet"``)."""
        if self.dialect != "duckdb" or not isinstance(table.this, exp.Identifier):
            return
        if any(char in table.this.name for char in FILE_NAME_CHARS):
            self.facts.files_read = self.facts.files_read + (table.this.name,)

    def _star_reads(self, tree: exp.Expression) -> None:
        stars: list[str] = []
        try:
            scopes = traverse_scope(tree)
        except Exception:
            return
        for scope in scopes:
            if not isinstance(scope.expression, exp.Select):
                continue
            for projection in scope.expression.selects:
                if isinstance(projection, exp.Star):
                    covered = scope.selected_sources.values()
                elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                    entry = scope.selected_sources.get(projection.table)
                    covered = [entry] if entry else []
                else:
                    continue
                for _, source in covered:
                    if isinstance(source, exp.Table):
                        name = self.table_name(source)
                        if name:
                            stars.append(name)
        self.facts.star_reads = tuple(_unique(stars))

    def _qualify_columns(self, tree: exp.Expression, note: bool = True) -> exp.Expression:
        try:
            qualified = qualify_columns(tree, self.catalog.sqlglot_schema(), expand_alias_refs=True, expand_stars=True, allow_partial_qualification=True)
            qualified = quote_identifiers(qualified, dialect=self.dialect, identify=False)
        except Exception as error:
            if note:
                self.notes.append(f"columns not qualified ({type(error).__name__}: {str(error)[:200]})")
                self.lineage_complete = False
            qualified = tree
        self._collect_columns_read(qualified)
        if any(isinstance(node, exp.Star) for select in qualified.find_all(exp.Select) for node in select.expressions):
            self.lineage_complete = False
            self.notes.append("SELECT * over a table the catalog does not describe: its columns are unknown")
        return qualified

    def _collect_columns_read(self, tree: exp.Expression) -> None:
        aliases: dict[str, set[str]] = {}
        for table in tree.find_all(exp.Table):
            name = self.table_name(table)
            if not name or table.meta.get("cte_reference"):
                continue
            aliases.setdefault(table.alias_or_name, set()).add(name)
        physical = sorted({name for names in aliases.values() for name in names})
        known = {name: self._lowered_columns(name) for name in physical}
        owners_by_name: dict[str, list[str]] = {}
        for column in tree.find_all(exp.Column):
            if isinstance(column.this, exp.Star):
                for name in aliases.get(column.table, ()):
                    self.columns_read.setdefault(name, set()).update(self.catalog.columns(name) or {"*"})
                continue
            if column.table:
                owners = aliases.get(column.table, ())
            else:
                lowered = column.name.lower()
                owners = owners_by_name.get(lowered)
                if owners is None:
                    # unqualified: any table that has (or may have) the column reads it
                    owners = [name for name in physical if known[name] is None or lowered in known[name]]
                    owners_by_name[lowered] = owners
            for name in owners:
                self.columns_read.setdefault(name, set()).add(column.name)
        for select in tree.find_all(exp.Select):
            if any(isinstance(node, exp.Star) for node in select.expressions):
                for table in select.find_all(exp.Table):
                    name = self.table_name(table)
                    if name and name in known:
                        self.columns_read.setdefault(name, set()).update(self.catalog.columns(name) or {"*"})

    def _lowered_columns(self, table: str) -> set[str] | None:
        columns = self.catalog.columns(table)
        return None if columns is None else {column.lower() for column in columns}

    def _trace(self, query: exp.Expression, expected: int | None = None) -> tuple[list[str], list[dict[str, str]]]:
        while isinstance(query, exp.Subquery) and not query.alias and isinstance(query.this, exp.Query):
            query = query.this
        tracer = Tracer(self._traced_table_name, self.deadline, self._table_columns)
        try:
            names, per_position = tracer.trace_query(query)
        except LineageBudgetExceeded:
            self.lineage_complete = False
            self.notes.append("column lineage exceeded its time budget; table-level lineage only")
            return [], []
        except Exception as error:
            self.lineage_complete = False
            self.notes.append(f"column lineage failed ({type(error).__name__})")
            return [], []
        if tracer.unresolved:
            # an untraced column may carry anything: the lineage is no proof of where values go
            self.lineage_complete = False
            self.notes.append("unresolved columns: " + ", ".join(sorted(set(tracer.unresolved))[:10]))
        if expected is not None and len(per_position) < expected:
            per_position += [{} for _ in range(expected - len(per_position))]
        return names, per_position

    def _table_columns(self, name: str) -> list[str] | None:
        columns = self.catalog.columns(name)
        return list(columns) if columns else None

    def _traced_table_name(self, table: exp.Table) -> str | None:
        name = self.table_name(table)
        return dbt_logical_name(name) if name else None

    # -- DDL ---------------------------------------------------------------------------------

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
                self.facts.kind = ("create_table_as" if has_query else "create_table") if kind == "TABLE" else "create_view"
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
                        qualified = _values_as_query(qualified, self.dialect)
                    names, per_position = self._trace(qualified) if qualified is not None else ([], [])
                    self.facts.output_columns = tuple(names)
                    if name:
                        self._map_edges(dbt_logical_name(name), columns_declared or names, per_position)
            return
        if kind == "SCHEMA" or kind == "DATABASE":
            self.facts.kind = f"create_{kind.lower()}"
            return
        if kind == "INDEX":
            self.facts.kind = "create_index"
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
                    self.changes.append(SchemaChange("dropped_column", name, column=column_name, old_type=_type_of(existing, column_name),
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
                        SchemaChange("retyped_column", name, column=column_name, old_type=_type_of(existing, column_name), new_type=action.args["dtype"].sql(self.dialect),
                                     rewritten=_rewrites_column(action, target))
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
                self.changes.append(SchemaChange("renamed_column", name, column=old, new_name=new, old_type=_type_of(existing, old)))
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
        self.facts.kind = "truncate"
        for target in tree.expressions:
            if isinstance(target, exp.Table):
                name = self.table_name(target)
                if name:
                    self.writes.append(name)
                    self.changes.append(SchemaChange("truncated_table", name))

    def _grant(self, tree: exp.Expression) -> None:
        self.facts.kind = "grant" if isinstance(tree, exp.Grant) else "revoke"
        principals = [principal.name for principal in tree.args.get("principals") or []]
        securable = tree.args.get("securable")
        privileges = [privilege.sql(self.dialect) for privilege in tree.args.get("privileges") or []]
        self.facts.privileges = (
            {
                "statement": self.facts.kind,
                "privileges": privileges,
                "object": securable.sql(self.dialect) if securable is not None else None,
                "principals": principals,
                "grant_option": bool(tree.args.get("grant_option")),
                "to_public": any(p.lower() == "public" for p in principals),
            },
        )

    def _copy(self, tree: exp.Copy) -> None:
        loading = bool(tree.args.get("kind"))
        target = tree.this
        if loading:
            self.facts.kind = "copy_in"
            if isinstance(target, exp.Table) and self.table_name(target):
                self._record_write(target)
            else:
                self.opaque.append(OpaquePart("unknown_target", "COPY into something that is not a table"))
            for source in tree.args.get("files") or []:
                if isinstance(source, exp.Query) or isinstance(source, exp.Subquery):
                    self._physical_reads(source)
                elif not self._copy_program(source, tree) and not _is_client(source):
                    # a file on the database server (PostgreSQL), or in the pipeline's own process (DuckDB)
                    self.facts.files_read = self.facts.files_read + (_path_of(source, self.dialect),)
            return
        self.facts.kind = "copy_out"
        files = tree.args.get("files") or []
        for item in files:
            self._copy_program(item, tree)
        destination = ", ".join(item.sql(self.dialect) for item in files) or "STDOUT"
        # TO STDOUT hands the rows to the client, as a SELECT does; files and programs are copy_out
        to_client = destination.upper() == "STDOUT"
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table):
            name = self.table_name(target)
            if name:
                self._record_read(name)
                if not to_client:
                    self.facts.copy_out = (name,)
                known = self.catalog.columns(name)
                self.columns_read.setdefault(name, set()).update(known or {"*"})
        else:
            self._physical_reads(target)
            self._qualify_columns(target)
            if not to_client:
                self.facts.copy_out = tuple(_unique(self.reads)) or ("(query)",)
        self.notes.append(f"copies data out to {destination}")

    def _copy_program(self, item: exp.Expression, tree: exp.Copy) -> bool:
        """``COPY ... FROM/TO PROGRAM 'cmd'``: a shell command on the database server (sqlglot keeps the
        command as the first parameter)."""
        if not (isinstance(item, exp.Identifier) and not item.quoted and item.name.upper() == "PROGRAM"):
            return False
        params = tree.args.get("params") or []
        first = params[0] if params else None
        command = first.this.name if first is not None and first.args.get("expression") is None and first.this is not None else ""
        self.facts.programs = self.facts.programs + (command or "(a program)",)
        return True

    def _export(self, tree: exp.Export) -> None:
        self.facts.kind = "copy_out"
        query = tree.this
        if isinstance(query, exp.Expression):
            self._physical_reads(query)
            self._qualify_columns(query)
        self.facts.copy_out = tuple(_unique(self.reads)) or ("(query)",)

    def _set(self, tree: exp.Set) -> None:
        self.facts.kind = "set"
        self._settings_statement(self.parsed.sql)

    def _pragma(self, tree: exp.Pragma) -> None:
        self.facts.kind = "pragma"
        self.settings.extend(settings_of_pragma(tree))

    def _settings_statement(self, text: str) -> None:
        """``SET``/``RESET``/``UNSET`` in any form, read from the statement's own tokens."""
        try:
            first = get_dialect(self.dialect).tokenize(text)[0]
        except Exception:
            self.opaque.append(OpaquePart("unsupported_statement", "a SET statement the analysis cannot read"))
            return
        keyword = "RESET" if first.text.upper() in ("RESET", "UNSET") else "SET"
        self.settings.extend(settings_of_set(text[first.end + 1 :], self.dialect, keyword=keyword))

    def _simple(self, kind: str):
        def handler(tree: exp.Expression) -> None:
            self.facts.kind = kind
            if isinstance(tree, exp.Comment):
                target = tree.this
                if isinstance(target, exp.Table) and self.table_name(target):
                    self.writes.append(self.table_name(target))

        return handler

    def _unsupported(self, tree: exp.Expression) -> None:
        self.facts.kind = type(tree).__name__.lower()
        self.opaque.append(OpaquePart("unsupported_statement", f"{type(tree).__name__} statements are not understood by the analysis"))

    # -- commands ------------------------------------------------------------------------------

    def _command(self, command: exp.Command) -> StatementFacts:
        keyword = str(command.this).upper()
        if keyword in ("SET", "RESET", "SHOW"):
            self.facts.kind = keyword.lower()
            if keyword != "SHOW":  # SHOW reads a setting: nothing to judge
                self._settings_statement(self.parsed.sql)
            return self._finish(None)
        rest = _command_rest(command, self.dialect)
        if keyword == "DROP":
            drop = drop_of_command(rest, self.dialect)
            if drop.kind not in ROLE_KINDS and drop.kind != "policy":  # those two: classify_command below
                self.facts.kind = f"drop_{(drop.kind or 'unknown').replace(' ', '_')}"
                self._record_drop(drop)
                return self._finish(None)
        if keyword == "ALTER":
            self.settings.extend(settings_of_alter(rest, self.dialect))
        info = classify_command(command, self.dialect)
        if info.kind == "explain" and info.inner_sql:
            inner = split_statements(info.inner_sql, self.dialect)
            if len(inner) == 1:
                facts = analyze_statement(replace(inner[0], index=self.parsed.index), self.dialect, self.catalog)
                return replace(facts, sql=self.parsed.sql, kind="explain")
        self.facts.kind = info.kind
        if info.table:
            name = ".".join(part.lower() for part in info.table)
            self.writes.append(name)
        if info.disables_safety:
            self.facts.safety_disabled = (self.parsed.sql,)
        if info.privilege_change:
            self.facts.privileges = (
                {"statement": info.kind, "grant_option": info.grant_option, "to_public": info.to_public, "text": self.parsed.sql[:200]},
            )
        if info.opaque_reason:
            self.opaque.append(OpaquePart("opaque_command", info.opaque_reason))
        return self._finish(None)


def _command_rest(command: exp.Command, dialect: str) -> str:
    """What follows a Command's keyword, as written."""
    rest = command.expression
    if isinstance(rest, exp.Literal):
        return rest.name
    return rest.sql(dialect) if isinstance(rest, exp.Expression) else str(rest or "")


def _mark_cte_references(tree: exp.Expression) -> None:
    """Flag table references that name a CTE, before qualification hides the difference.

    sqlglot's scopes resolve shadowing (``WITH customers AS (SELECT * FROM customers)``
    reads the physical table inside the CTE body); CTEs whose body is DML have no scope,
    so their references are matched by name.
    """
    ctes = list(tree.find_all(exp.CTE))
    if not ctes:
        return  # no CTE, nothing to tell apart (and scopes are costly on very large statements)
    try:
        scopes = traverse_scope(tree)
    except Exception:
        scopes = []
    for scope in scopes:
        for table in scope.tables:
            if isinstance(scope.sources.get(table.alias_or_name), Scope):
                table.meta["cte_reference"] = True
    for cte in ctes:
        if not isinstance(cte.this, DML_TYPES):
            continue
        name = cte.alias_or_name.lower()
        for table in tree.find_all(exp.Table):
            if not table.args.get("db") and table.name.lower() == name and not inside(table, cte):
                table.meta["cte_reference"] = True


def _type_of(columns: dict[str, str], name: str | None) -> str | None:
    if not name:
        return None
    lowered = name.lower()
    for column, column_type in columns.items():
        if column.lower() == lowered:
            return column_type
    return None


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _unique_parts(parts: Iterable[OpaquePart]) -> list[OpaquePart]:
    return list(dict.fromkeys(parts))


def _values_as_query(values: exp.Values, dialect: str) -> exp.Query | None:
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
