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
from sqlglot.optimizer.scope import traverse_scope

from lineage.decide.analysis.column_lineage import LineageBudgetExceeded, Tracer
from lineage.decide.analysis.commands import classify_command
from lineage.decide.analysis.calls import statement_calls
from lineage.decide.analysis.file_calls import file_calls
from lineage.decide.analysis.copies import CopyFacts
from lineage.decide.analysis.cte_references import is_cte_reference
from lineage.decide.analysis.ddl import DdlFacts
from lineage.decide.analysis.dml import DML_TYPES, DmlFacts, dml_nodes
from lineage.decide.analysis.drops import ROLE_KINDS, drop_of_command
from lineage.decide.analysis.grants import GrantFacts
from lineage.decide.analysis.recursive_ctes import recursive_self_references
from lineage.decide.analysis.session_settings import settings_in_tree, settings_of_alter
from lineage.decide.analysis.set_statements import SettingFacts
from lineage.decide.analysis.tree_copy import copy_tree
from lineage.decide.analysis.statements import ParsedStatement, split_statements
from lineage.decide.catalog import Catalog
from lineage.model import Lineage, OpaquePart, SchemaChange, SettingChange, StatementFacts
from lineage.decide.names import dbt_logical_name
from lineage.decide.analysis.kinds import ROW_CHANGES, Kind

DEFAULT_BUDGET_SECONDS = 0.25

SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "sys", "system"}
FILE_NAME_CHARS = ("/", "\\", ".", ":")  # a DuckDB table name holding one of these may be read as a file


def analyze(sql: str, dialect: str, catalog: Catalog | None = None, budget: float = DEFAULT_BUDGET_SECONDS) -> list[StatementFacts]:
    """Facts for every statement in ``sql``.

    >>> [f.kind for f in analyze("drop table crm.customers; select 1", "postgres")]
    ['drop_table', 'select']
    """
    catalog = catalog or Catalog(dialect=dialect)
    return [analyze_statement(parsed, dialect, catalog, budget) for parsed in split_statements(sql, dialect)]


def analyze_statement(parsed: ParsedStatement, dialect: str, catalog: Catalog, budget: float = DEFAULT_BUDGET_SECONDS,
                      keep_statement: bool = True) -> StatementFacts:
    """The facts of one parsed statement. With ``keep_statement`` the parse as written stays
    untouched in ``facts.statement`` (the masking rewrite starts from it) and a copy is qualified;
    without, the parse itself is qualified in place (``parsed.expression`` changes) and no copy is made."""
    if parsed.expression is None:
        unsafe = parsed.error if parsed.unsafe else None
        return StatementFacts(parsed.index, parsed.sql, dialect, Kind.UNPARSEABLE, parse_error=parsed.error, unsafe_text=unsafe, lineage_complete=False)
    return _Analyzer(parsed, dialect, catalog, budget, keep_statement).run()


class _Analyzer(DmlFacts, DdlFacts, GrantFacts, CopyFacts, SettingFacts):
    """One statement's facts: the shared state and the query part here, each other kind of
    statement in its own module (dml, ddl, grants, copies, set_statements)."""

    def __init__(self, parsed: ParsedStatement, dialect: str, catalog: Catalog, budget: float, keep_statement: bool = True):
        self.parsed = parsed
        self.keep_statement = keep_statement
        self.dialect = dialect
        self.catalog = catalog
        self.deadline = time.perf_counter() + budget if budget else None
        self.facts = StatementFacts(parsed.index, parsed.sql, dialect, Kind.UNKNOWN)
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
        self.nested_dml: tuple[exp.Expression | None, list[exp.Expression]] = (None, [])

    # -- entry -------------------------------------------------------------------------

    def run(self) -> StatementFacts:
        expression = self.parsed.expression
        if isinstance(expression, exp.Command):
            return self._command(expression)
        # what is read from the statement as written, before qualification renames in place
        self.opaque.extend(OpaquePart("recursive_self_reference", detail) for detail in recursive_self_references(expression, self.dialect))
        parsed = self.parsed
        calls = statement_calls(expression, parsed.sql, parsed.offset, self.dialect, parsed.keyword_calls)
        files = file_calls(expression, parsed.sql, parsed.offset, self.dialect)
        if self.keep_statement:
            self.facts.statement = expression
            tree = copy_tree(expression)
        else:
            tree = expression  # nobody needs the parse as written: no copy (most of a copy's cost is position meta)
        qualified = self._qualify_tables(tree)
        self.nested_dml = (qualified, dml_nodes(qualified))  # one walk, read again by the query handler
        self._row_changes(self.nested_dml[1])
        handler = self._handler(qualified)
        handler(qualified)
        self.settings.extend(settings_in_tree(qualified))
        self.facts.calls = calls
        self.facts.files_read = self.facts.files_read + files
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
            return self._simple(Kind.TRANSACTION)
        if isinstance(node, exp.Set):
            return self._set
        if isinstance(node, exp.Use):
            return self._simple(Kind.USE)
        if isinstance(node, exp.Pragma):
            return self._pragma
        if isinstance(node, (exp.Describe, exp.Show, exp.Analyze, exp.Comment, exp.Summarize)):
            return self._simple(type(node).__name__.lower())
        return self._unsupported

    def _finish(self, expression: exp.Expression | None) -> StatementFacts:
        facts = self.facts
        reads = _unique(name for name in self.reads if name not in self.writes or facts.kind in ROW_CHANGES)
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
            _mark_cte_references(tree, self.dialect)
            tree = qualify_tables(tree, db=self.catalog.default_schema, catalog=self.catalog.default_database, dialect=self.dialect)
            for node in dml_nodes(tree):
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
        self.facts.kind = Kind.SELECT_INTO if into else (Kind.SELECT if not isinstance(tree, exp.Values) else Kind.VALUES)
        nested_dml = self.nested_dml[1] if self.nested_dml[0] is tree else dml_nodes(tree)
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
        if not any(_is_star(projection) for select in tree.find_all(exp.Select) for projection in select.expressions):
            return  # no SELECT * or t.* anywhere: no scopes to build
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
        if info.kind == Kind.EXPLAIN and info.inner_sql:
            inner = split_statements(info.inner_sql, self.dialect)
            if len(inner) == 1:
                facts = analyze_statement(replace(inner[0], index=self.parsed.index), self.dialect, self.catalog, keep_statement=self.keep_statement)
                return replace(facts, sql=self.parsed.sql, kind=Kind.EXPLAIN)
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


def _mark_cte_references(tree: exp.Expression, dialect: str) -> None:
    """Flag table references that name a CTE, before qualification hides the difference
    (``lineage.decide.analysis.cte_references``: the masking rewrite asks the same question)."""
    if not any(True for _ in tree.find_all(exp.CTE)):
        return  # no CTE, nothing to tell apart
    for table in tree.find_all(exp.Table):
        if is_cte_reference(table, dialect):
            table.meta["cte_reference"] = True


def _is_star(projection: exp.Expression) -> bool:
    return isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star))


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _unique_parts(parts: Iterable[OpaquePart]) -> list[OpaquePart]:
    return list(dict.fromkeys(parts))


