"""mask_statement: the scan-time rewrite, failing closed.

    SELECT c.email FROM crm.customers AS c WHERE c.ssn = '123-45-6789'          (alice: not exempt)
    -> SELECT c.email FROM (SELECT c.id, c.name, CASE ... END AS email, CASE ... END AS ssn, ...
                            FROM crm.customers AS c) AS c WHERE c.ssn = '123-45-6789'

Every reference to a protected physical table (classified columns this identity may not
see raw) becomes a derived table that projects the table's full column list from the
catalog, the classified columns replaced by their masks, under the original alias or name.
Everything the query does afterwards (WHERE, JOIN, GROUP BY, ORDER BY, windows, aggregates,
subqueries, CTEs, UNION arms, LATERAL, whole rows, the read side of INSERT/CTAS/MERGE/COPY)
sees masked values only. The rewrite starts from the statement as parsed, so the SQL that runs
keeps its own names and output columns; only protected table references change.

For an identity that reads anything masked, every statement must be positively understood
(the doctrine, see docs/security.md): calls and system relations are checked against
``lineage.decide.allowlist``, EXPLAIN options against a list, and the clauses of DML and DDL around a
protected table against lists of the parts that may read its raw rows. What it cannot prove
covered is refused with a ``masking_refused`` finding naming the reason: unknown column lists,
functions and system relations off the allowlist, whole rows of a DML target, opaque or
unparseable SQL, value-exposing statistics, ``deny`` columns, DML reading a classified column
of its protected target (the row count would be an oracle), DDL evaluating classified columns
or anything that is no known column over stored rows, key material a plan or view would show,
a missing hash key, and any table reference in a place the rewrite does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sqlglot
from sqlglot import exp

from lineage.decide.allowlist import FUNCTIONS_KEY, RELATIONS_KEY, Call, builtins, function_known, refused_calls, refused_relation
from lineage.decide.allowlist.overloads import overloaded_call_message
from lineage.decide.analysis.statements import get_dialect
from lineage.decide.analysis.tree_copy import copy_tree
from lineage.mask.plan import KeyUnavailable, MaskError, MaskPlanner, TableMask, planner_for
from lineage.mask.strategies import KEYED
from lineage.model import Action, Finding, MaskedColumn, MaskResult, StatementFacts
from lineage.decide.names import dbt_logical_name, table_part
from lineage.decide.analysis.cte_references import is_cte_reference, normalized
from lineage.decide.analysis.kinds import Kind

RULE = "masking_refused"

NOTHING = MaskResult(sql=None)

# system relations and functions that show stored values (most common values, histogram bounds, min/max)
VALUE_STATISTICS = {"pg_stats", "pg_statistic", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data"}
VALUE_STATISTIC_FUNCTIONS = {"pg_mcv_list_items", "storage_info", "pragma_storage_info"}

# Table arguments the derived table keeps on its inner FROM (sampling, ONLY, time travel, hints)
INNER_ARGS = {"this", "db", "catalog", "alias", "pivots", "sample", "only", "version", "system_time", "when", "changes", "hints", "partition"}

# EXPLAIN options that show no more than the plan's shape and timings
EXPLAIN_OPTIONS = {"EXPLAIN", "ANALYZE", "ANALYSE", "COSTS", "BUFFERS", "TIMING", "SUMMARY", "FORMAT", "SETTINGS", "WAL",
                   "TEXT", "JSON", "YAML", "XML", "TRUE", "FALSE", "ON", "OFF", "0", "1"}

# the parts of each DML statement that may read its target's raw row (RETURNING is masked instead)
TARGET_READS = {
    exp.Update: ("expressions", "from_", "where", "order", "limit"),
    exp.Delete: ("using", "where", "order", "limit"),
    exp.Merge: ("on", "using", "using_cond", "whens"),
}
NOT_TARGET_READS = ("with_", "this", "returning")  # CTEs are scopes of their own; the target; masked
# what an INSERT into a protected table may carry (the rows it inserts cannot read the target's)
INSERT_PARTS = {"with_", "this", "expression", "conflict", "returning", "overwrite", "exists", "ignore", "by_name", "default", "is_function"}

READ, INSERT_TARGET, DML_TARGET, CREATE_TARGET, COPY, ALTER, INDEX, REFERENCE, STATISTICS, HARMLESS, UNKNOWN = (
    "read", "insert_target", "dml_target", "create_target", "copy", "alter", "index", "reference", "statistics", "harmless", "unknown",
)


def mask_statement(facts: StatementFacts, context, owned: bool = False) -> MaskResult:
    """The masked SQL for this identity (or None when nothing changes), what was masked, and refusals.

    ``owned``: nothing reads ``facts.statement`` after this call (the engine's check drops it from
    the decision), so the rewrite may work on it instead of a copy."""
    planner = planner_for(context, facts.dialect)
    if not planner.masks_anything:
        return NOTHING
    return _Rewrite(facts, planner, owned=owned).run()


@dataclass
class _Reference:
    table: exp.Table
    mask: TableMask
    role: str
    alias: str  # normalized alias or table name


@dataclass
class _Rewrite:
    facts: StatementFacts
    planner: MaskPlanner
    refusals: list[Finding] = field(default_factory=list)
    masked: dict[tuple[str, str], MaskedColumn] = field(default_factory=dict)
    returned: set[tuple[str, str]] = field(default_factory=set)  # masked in RETURNING
    tables: list[TableMask] = field(default_factory=list)  # protected tables the SQL reads through masks
    whole_rows: set[str] = field(default_factory=set)  # protected tables read as whole rows (every column)
    key_material: bool = False  # the rewritten SQL carries a keyed mask's HMAC pads
    changed: bool = False
    owned: bool = False  # the caller hands facts.statement over: rewrite it in place, no copy

    @property
    def dialect(self) -> str:
        return self.facts.dialect

    def refuse(self, reason: str, message: str, obj: str | None = None) -> None:
        finding = Finding(RULE, message, obj, default_action=Action.BLOCK, detail={"reason": reason})
        if all((f.message, f.object) != (finding.message, finding.object) for f in self.refusals):
            self.refusals.append(finding)

    def result(self, sql: str | None) -> MaskResult:
        if self.refusals:
            return MaskResult(sql=None, masked_columns=self._reported(), findings=tuple(self.refusals))
        return MaskResult(sql=sql, masked_columns=self._reported())

    def _reported(self) -> tuple[MaskedColumn, ...]:
        """The masked columns the statement reads (every classified column of a protected table
        is masked in its derived table, but only those it reads are worth reporting)."""
        read = {name.lower(): {column.lower() for column in columns} for name, columns in self.facts.columns_read.items()}
        known = {mask.name: mask.column_names() for mask in self.tables}
        out = []
        for (table, column), masked in self.masked.items():
            columns = read.get(table.lower())
            unsure = columns is None or "*" in columns or not columns <= known.get(table, set()) or table in self.whole_rows
            if unsure or column.lower() in columns or (table, column) in self.returned:
                out.append(masked)
        return tuple(out)

    # -- the statement -----------------------------------------------------------------------

    def run(self) -> MaskResult:
        facts = self.facts
        if facts.kind == Kind.UNPARSEABLE or facts.parse_error:
            # (an EXPLAIN of an unparseable statement has kind explain and a parse error)
            self.refuse("unparseable", "the statement cannot be parsed, so masking cannot prove it leaves protected tables alone")
        for part in facts.opaque:
            self.refuse("opaque", f"{part.detail}: masking cannot see which tables it reads, and this identity reads classified data only masked")
        for name in facts.system_reads:
            if name.lower().rsplit(".", 1)[-1] in VALUE_STATISTICS:
                self.refuse("statistics", f"{name} exposes stored column values (most common values, histogram bounds)", name)
        source = self._statement()
        if source is None:
            return self.result(None)
        self._check_calls(source)
        self._check_relations(source)
        prefix = self._prefix()
        found = self._references(source) if prefix is not None else []
        if not found:  # nothing protected: no copy, no rewrite
            return self.result(None)
        # a statement parsed again here is this rewrite's own, as is one the caller handed over
        tree = source if self.owned or source is not self.facts.statement else copy_tree(source)
        references = found if tree is source else _moved(found, source, tree)
        self._check_unlisted(tree, references)
        self._check_whole_rows(tree, references)
        self._check_denied(tree, references)
        for reference in references:
            getattr(self, f"_{reference.role}")(reference, references)
        if self.refusals:
            return self.result(None)
        reads = [reference for reference in references if reference.role == READ]
        for reference in reads:
            self._replace(reference, tree)
        for reference in references:
            if reference.role == COPY:
                self._copy_query(reference)
        self._check_stored_keys(prefix)
        if self.refusals:  # a mask that could not be built (no key, wrong type), or keys it would store
            return self.result(None)
        if not self.changed:  # protected tables only written, altered or dropped: nothing to rewrite
            return self.result(None)
        self._unqualify_columns(tree, [reference for reference in reads if reference.table.args.get("alias") is None])
        return self.result(prefix + tree.sql(dialect=self.dialect))

    # -- what the statement may call and read (lineage.decide.allowlist) -----------------------------------

    def _check_calls(self, source: exp.Expression) -> None:
        """Only known value functions: any other may read tables, files or statement texts (the
        key in a masked statement's own text, with ``current_query()``) that masking never sees."""
        allowed = self.planner.policy.allowlist.functions
        for call in refused_calls(self.facts.calls, self.dialect, allowed, overloads=self.planner.catalog.function_overloads):
            name = call.name.rsplit(".", 1)[-1].lower()
            if name in VALUE_STATISTIC_FUNCTIONS:
                self.refuse("statistics", f"{name}() exposes stored column values (min/max statistics)")
            else:
                self.refuse("function", self._unknown_call(call))
        if self.dialect == "postgres":
            self._check_attribute_calls(source, allowed)

    def _check_attribute_calls(self, source: exp.Expression, allowed) -> None:
        """``o.f`` where no source aliased ``o`` has a column ``f``: PostgreSQL calls ``f(o)``.
        (Protected tables' own whole rows are judged in ``_check_whole_rows``.)"""
        columns: dict[str, set[str] | None] = {}
        for scope in source.find_all(*SCOPES):
            for alias, _, names in self._scope_sources(scope):
                known = columns.get(alias, set())
                columns[alias] = None if names is None or known is None else known | names
        fields = []  # (the whole row's name, the field, the node written)
        for column in source.find_all(exp.Column):
            qualifier = column.args.get("table")
            if qualifier is not None and not isinstance(column.this, exp.Star) and column.args.get("db") is None:
                fields.append((qualifier, column.this, column))
        for dot in source.find_all(exp.Dot):  # (c).f
            row = dot.this.this if isinstance(dot.this, exp.Paren) else None
            if isinstance(row, exp.Column) and row.args.get("table") is None and isinstance(dot.expression, exp.Identifier):
                fields.append((row.this, dot.expression, dot))
        for qualifier, field, node in fields:
            names = columns.get(normalized(qualifier, self.dialect))
            if names is None or field.name.lower() in names:
                continue
            quoted = isinstance(field, exp.Identifier) and bool(field.args.get("quoted"))
            call = Call(field.name if quoted else field.name.lower(), quoted=quoted)
            if not function_known(call, self.dialect, allowed, overloads=self.planner.catalog.function_overloads):
                self.refuse("function", f"{node.sql(self.dialect)} is no column of {qualifier.name}, so PostgreSQL calls it: " + self._unknown_call(call))

    def _unknown_call(self, call: Call) -> str:
        overloads = self.planner.catalog.function_overloads
        if overloads and call.name in overloads:
            return overloaded_call_message(call, overloads[call.name])
        if call.syntax:
            return f"{call.name} is SQL syntax the masking rewrite does not know, so it cannot prove what it reads"
        known = "" if builtins(self.dialect).known_dialect else f" (there is no list of built-in value functions for {self.dialect})"
        return (
            f"{call.shown()} is not a known value function{known}: it may read tables or statement texts the masking "
            f"rewrite never sees; if it only computes a value from its arguments, list {call.name!r} under {FUNCTIONS_KEY} in the policy"
        )

    def _check_relations(self, source: exp.Expression) -> None:
        """System relations: only those describing the schema (pg_stat_activity shows statement texts)."""
        facts = self.facts
        names = (*facts.system_reads, *facts.reads, *facts.writes)
        if not any(name.rsplit(".", 1)[-1].lower().startswith("pg_") or "information_schema" in name.lower() for name in names):
            return  # no system relation among the statement's tables (unqualified pg_* names too): no walk
        allowed = self.planner.policy.allowlist.relations
        for table in source.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                continue
            parts = tuple(part.name for part in (table.args.get("catalog"), table.args.get("db"), table.this) if part is not None and part.name)
            name = refused_relation(parts, self.dialect, allowed)
            if name is not None and name.rsplit(".", 1)[-1] not in VALUE_STATISTICS and not is_cte_reference(table, self.dialect):
                self.refuse(
                    "system_relation",
                    f"{name} is a system relation not known to describe the schema only (it may show statement texts, settings "
                    f"or stored values); list it under {RELATIONS_KEY} in the policy if it does not",
                    name,
                )

    def _statement(self) -> exp.Expression | None:
        """The statement as parsed (shared with the facts: the rewrite copies it unless handed over, ``owned``)."""
        facts = self.facts
        source = facts.statement
        if source is None and facts.expression is not None:
            try:
                source = sqlglot.parse_one(facts.sql, read=facts.dialect)
            except Exception:
                self.refuse("not_understood", "the statement could not be parsed again for the masking rewrite")
                return None
        if source is None or isinstance(source, exp.Command):
            return None
        return source

    def _prefix(self) -> str | None:
        """What precedes the rewritten statement: ``EXPLAIN ANALYZE `` for an EXPLAIN, else nothing.
        EXPLAIN options are allow-listed: VERBOSE shows the expressions a statement computes."""
        if self.facts.kind != Kind.EXPLAIN:
            return ""
        prefix = _explain_prefix(self.facts.sql, self.facts.dialect)
        if prefix is None:
            self.refuse("not_understood", "EXPLAIN whose inner statement the rewrite cannot locate")
            return None
        head, _, options = prefix.strip().partition(" ")  # EXPLAIN, then its options
        try:
            words = [token.text.upper() for token in get_dialect(self.dialect).tokenize(options)] if options else []
        except Exception:
            words = [options]
        for word in words:
            if word in ("(", ")", ","):
                continue
            if word == "VERBOSE":
                self.refuse("introspection", "EXPLAIN VERBOSE shows every expression the statement computes; this identity reads classified data masked")
            elif word not in EXPLAIN_OPTIONS:
                self.refuse("not_understood", f"EXPLAIN option {word} is not known to the masking rewrite")
        return prefix

    def _check_stored_keys(self, prefix: str) -> None:
        """With ``masking.hash_key`` from the environment or a file, the SQL carries the derived key's
        HMAC pads: no plan (EXPLAIN shows expressions) and no view definition (readable later in the
        catalog) may show them. Keys installed in the database (``lineage masking install``) are not in the SQL."""
        if not self.key_material:
            return
        # a plan shows the expressions it evaluates (the optimizer drops the derived table's unused
        # columns); a view keeps its whole definition
        if prefix and any(column.strategy in KEYED for column in self._reported()):
            self.refuse("hash_key", "EXPLAIN would show the masking key material the rewritten SQL carries; install the keyed masking functions in the database (lineage masking install) to explain such statements")
        elif self.facts.kind == Kind.CREATE_VIEW:
            self.refuse("hash_key", "a view keeps its SQL, which would carry the masking key material, readable in the catalog; install the keyed masking functions in the database (lineage masking install) to create such views")

    # -- finding protected references ----------------------------------------------------------

    def _references(self, tree: exp.Expression) -> list[_Reference]:
        references = []
        for table in list(tree.find_all(exp.Table)):
            if not isinstance(table.this, exp.Identifier):
                continue
            role = _role(table)
            # a DML target is always a table: WITH customers AS (...) UPDATE customers updates the table
            if role not in (INSERT_TARGET, DML_TARGET) and is_cte_reference(table, self.dialect):
                continue
            parts = tuple(part.name for part in (table.args.get("catalog"), table.args.get("db"), table.this) if part is not None and part.name)
            masks = {}
            for name in self.planner.candidates(parts):
                mask = self.planner.table(name)
                if mask is not None:
                    masks.setdefault(mask.name, mask)
            if not masks:
                continue
            written = ".".join(parts)
            if len(masks) > 1:
                self.refuse("ambiguous", f"{written} may be any of {', '.join(sorted(masks))} (the search path decides at run time); qualify it", written)
                continue
            mask = next(iter(masks.values()))
            references.append(_Reference(table, mask, role, normalized(table.args.get("alias").this if table.args.get("alias") else table.this, self.dialect)))
        return references

    # -- checks over the whole statement -----------------------------------------------------------

    def _check_unlisted(self, tree: exp.Expression, references: list[_Reference]) -> None:
        """A column the policy classifies but the catalog does not list for a protected table: the
        catalog's column list is wrong (or stale), so no mask planned from it can be trusted."""
        unlisted = {name: reference.mask.name for reference in references for name in reference.mask.unlisted}
        if not unlisted:
            return
        for column in tree.find_all(exp.Column):
            name = column.name.lower()
            if name in unlisted and not isinstance(column.this, exp.Star):
                table = unlisted[name]
                self.refuse(
                    "unknown_columns",
                    f"{column.sql(self.dialect)} may be {table}.{column.name}, which the policy classifies but the catalog's column "
                    f"list of {table} lacks; reload the catalog from the database (or fix the catalog file) so the masks can be planned",
                    table,
                )

    def _check_whole_rows(self, tree: exp.Expression, references: list[_Reference]) -> None:
        """A protected table's whole row as a value: ``c``, ``to_json(c)``, ``count(c.*)``, ``(c).ssn``,
        and PostgreSQL's attribute notation ``c.to_json`` (a name that is no column of ``c`` calls
        ``to_json(c)``).

        A read becomes the masked derived table, so its whole row is masked too (a deny column's
        is refused, as with ``*``); an attribute-notation call is checked like any other call. The
        target of UPDATE, DELETE, MERGE or INSERT ... ON CONFLICT is the raw table: its whole row
        is refused.
        """
        protected = {id(reference.table): reference for reference in references}
        aliases = {reference.alias for reference in references}
        columns: dict[str, set[str]] = {}  # per alias: the names every protected source of that alias has
        for reference in references:
            visible = self._visible_columns(reference)
            columns[reference.alias] = columns[reference.alias] & visible if reference.alias in columns else visible
        for column in tree.find_all(exp.Column):
            qualifier = column.args.get("table")
            if isinstance(column.this, exp.Star):
                if qualifier is None or isinstance(column.parent, (exp.Select, exp.Returning)):
                    continue  # SELECT c.* / RETURNING c.* are expanded to (masked) columns
                reference = protected.get(id(self._resolve_alias(column, normalized(qualifier, self.dialect))))
                if reference is not None:
                    self._whole_row(reference, column, "passes whole rows of {table} to an expression")
                continue
            if qualifier is not None:
                alias = normalized(qualifier, self.dialect)
                if alias not in aliases or column.name.lower() in columns[alias]:
                    continue  # a column of whichever protected source it names (the common case: no lookup)
                reference = protected.get(id(self._resolve_alias(column, alias)))
                if reference is not None and reference.mask.columns is not None and column.name.lower() not in self._visible_columns(reference):
                    self._attribute_call(reference, column, column.this)
                continue
            name = normalized(column.this, self.dialect)
            if name not in aliases:
                continue
            reference = protected.get(id(self._resolve_whole_row(column, name)))
            if reference is not None:
                self._whole_row(reference, column, "refers to whole rows of {table}")
                field = column.parent.parent if isinstance(column.parent, exp.Paren) else None
                if isinstance(field, exp.Dot) and field.this is column.parent and isinstance(field.expression, exp.Identifier):
                    if reference.mask.columns is not None and field.expression.name.lower() not in self._visible_columns(reference):
                        self._attribute_call(reference, field, field.expression)  # (c).to_json

    def _visible_columns(self, reference: _Reference) -> set[str]:
        """The column names a reference shows: ``crm.customers AS z(i, n)`` renames the first two."""
        alias = reference.table.args.get("alias")
        renamed = [normalized(column, self.dialect) for column in alias.args.get("columns") or []] if alias is not None else []
        names = [column.lower() for column, _ in reference.mask.columns or ()]
        return set(renamed) | set(names[len(renamed):])

    def _whole_row(self, reference: _Reference, node: exp.Expression, what: str) -> None:
        table = reference.mask.name
        if reference.role != READ:
            self.refuse("whole_row", f"{node.sql(self.dialect)} {what.format(table=table)}, which this statement does not read masked", table)
        elif reference.mask.denied:
            self.refuse("deny", f"{node.sql(self.dialect)} includes {table}.{', '.join(sorted(reference.mask.denied))}, which may not be referenced (strategy deny)", table)
        else:
            self.whole_rows.add(table)

    def _attribute_call(self, reference: _Reference, node: exp.Expression, name: exp.Identifier) -> None:
        """``c.to_json`` where to_json is no column of c: PostgreSQL calls ``to_json(c)``."""
        table = reference.mask.name
        quoted = bool(name.args.get("quoted"))
        call = Call(name.name if quoted and self.dialect != "duckdb" else name.name.lower(), quoted=quoted)
        if reference.role != READ:
            self.refuse("whole_row", f"{node.sql(self.dialect)} is no column of {table}: PostgreSQL reads it as {call.name}() of the whole raw row", table)
        elif reference.mask.denied:
            self._whole_row(reference, node, "")
        else:  # a call of a known function (_check_attribute_calls refused the others) on the masked row
            self.whole_rows.add(table)

    def _may_be_column_of(self, column: exp.Column, name: str, table: exp.Table) -> bool:
        """Whether ``column`` may read ``name`` of ``table`` (unknown sources count as maybe)."""
        qualifier = column.args.get("table")
        if qualifier is not None:
            return self._resolve_alias(column, normalized(qualifier, self.dialect)) is table
        for scope in _scopes_around(column):
            sources = self._scope_sources(scope)
            if any(source is table for _, source, _ in sources):
                return True
            if any(columns is not None and name in columns for _, _, columns in sources):
                return False
        return False

    def _resolve_alias(self, column: exp.Column, alias: str) -> exp.Expression | None:
        """The source a qualifier names, from the column's scope outwards."""
        for scope in _scopes_around(column):
            for name, source, _ in self._scope_sources(scope):
                if name == alias:
                    return source
        return None

    def _resolve_whole_row(self, column: exp.Column, name: str) -> exp.Expression | None:
        """The source a bare name denotes as a whole row, or None when it is a column.

        Inner scopes first; in a scope, a source that has the column wins over a source
        aliased by that name (as in PostgreSQL). A source with unknown columns might have it,
        but the name is only taken as a column when some source is known to have it.
        """
        for scope in _scopes_around(column):
            sources = self._scope_sources(scope)
            if any(columns is not None and name in columns for _, _, columns in sources):
                return None
            for alias, source, _ in sources:
                if alias == name:
                    return source
        return None

    def _scope_sources(self, scope: exp.Expression) -> list[tuple[str, exp.Expression, set[str] | None]]:
        """(alias, source node, its column names or None when unknown) for the sources a scope reads."""
        out = []
        for source in _scope_source_nodes(scope):
            alias = source.args.get("alias")
            identifier = alias.this if alias is not None and alias.this else (source.this if isinstance(source, exp.Table) else None)
            if not isinstance(identifier, exp.Identifier):
                continue
            out.append((normalized(identifier, self.dialect), source, self._source_columns(source)))
        return out

    def _source_columns(self, source: exp.Expression) -> set[str] | None:
        """The source's column names; an alias list renames the first ones and the rest keep their
        names (``customers AS z(i, n)``: i, n, then the table's third column on)."""
        alias = source.args.get("alias")
        renamed = [normalized(column, self.dialect) for column in alias.args["columns"]] if alias is not None and alias.args.get("columns") else []
        underlying = self._underlying_columns(source)
        if not renamed:
            return set(underlying) if underlying is not None else None
        return set(renamed) | set(underlying[len(renamed):] if underlying is not None else ())

    def _underlying_columns(self, source: exp.Expression) -> list[str] | None:
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            parts = tuple(p.name for p in (source.args.get("catalog"), source.args.get("db"), source.this) if p is not None and p.name)
            known = self.planner.catalog.columns(parts)
            return [c.lower() for c in known] if known else None
        if isinstance(source, exp.Subquery) and isinstance(source.this, exp.Select):
            selects = source.this.selects
            if not any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and isinstance(s.this, exp.Star)) for s in selects):
                return [s.alias_or_name.lower() for s in selects]
        return None

    def _check_denied(self, tree: exp.Expression, references: list[_Reference]) -> None:
        for reference in references:
            denied = reference.mask.denied
            if not denied:
                continue
            table = reference.mask.name
            read = {name.lower() for name in _columns_read(self.facts, table)}
            for column in sorted(denied & read):
                self.refuse("deny", f"{table}.{column} may not be referenced at all (strategy deny)", table)
            for column in tree.find_all(exp.Column):
                if isinstance(column.this, exp.Star):
                    qualifier = column.args.get("table")
                    if qualifier is not None and normalized(qualifier, self.dialect) == reference.alias:
                        self.refuse("deny", f"{column.sql(self.dialect)} includes {table}.{', '.join(sorted(denied))}, which may not be referenced (strategy deny)", table)
                    continue
                name = column.name.lower()
                if name in denied and self._may_be_column_of(column, name, reference.table):
                    self.refuse("deny", f"{table}.{name} may not be referenced at all (strategy deny)", table)
            for star in tree.find_all(exp.Star):
                scope = star.parent
                if isinstance(scope, exp.Select) and _is_source(reference.table, scope) and not _excludes(star, denied):
                    self.refuse("deny", f"SELECT * includes {table}.{', '.join(sorted(denied))}, which may not be referenced (strategy deny)", table)
                if isinstance(scope, exp.Returning) and reference.role in (DML_TARGET, INSERT_TARGET) and _statement_of(reference.table) is scope.parent:
                    self.refuse("deny", f"RETURNING * includes {table}.{', '.join(sorted(denied))} (strategy deny)", table)
            for join in tree.find_all(exp.Join):
                using = [identifier.name.lower() for identifier in join.args.get("using") or []]
                if set(using) & denied:
                    self.refuse("deny", f"JOIN ... USING ({', '.join(using)}) refers to a deny column of {table}", table)
                if join.args.get("method") and str(join.args["method"]).upper() == "NATURAL":
                    select = join.parent
                    if isinstance(select, exp.Select) and _is_source(reference.table, select):
                        self.refuse("deny", f"NATURAL JOIN may compare {table}'s deny columns", table)

    # -- per role ----------------------------------------------------------------------------------

    def _read(self, reference: _Reference, references) -> None:
        mask, table = reference.mask, reference.table
        if mask.columns is None:
            self.refuse("unknown_columns", f"{mask.name} has classified columns but the catalog does not list its columns, so it cannot be masked", mask.name)
            return
        unsupported = [key for key, value in table.args.items() if value and key not in INNER_ARGS]
        if unsupported:
            self.refuse("not_understood", f"the rewrite does not understand {', '.join(unsupported)} on {mask.name}", mask.name)

    def _create_target(self, reference: _Reference, references) -> None:
        return

    def _harmless(self, reference: _Reference, references) -> None:
        return

    def _statistics(self, reference: _Reference, references) -> None:
        self.refuse("statistics", f"{type(reference.table.parent).__name__.upper()} of {reference.mask.name} shows stored values (min/max, top values)", reference.mask.name)

    def _copy(self, reference: _Reference, references) -> None:
        copy = reference.table.find_ancestor(exp.Copy)
        if copy is not None and copy.args.get("kind"):
            return  # COPY ... FROM loads into the table
        if reference.mask.columns is None:
            self.refuse("unknown_columns", f"COPY of {reference.mask.name}, whose column list the catalog does not give", reference.mask.name)

    def _copy_query(self, reference: _Reference) -> None:
        """``COPY crm.customers [(cols)] TO ...`` copies ``(SELECT <masked cols> FROM crm.customers)``."""
        table, mask = reference.table, reference.mask
        copy = table.find_ancestor(exp.Copy)
        if copy is None or copy.args.get("kind"):
            return
        holder = table.parent if isinstance(table.parent, exp.Schema) else table
        listed = [node.name.lower() for node in holder.expressions] if isinstance(holder, exp.Schema) else None
        types = dict((column.lower(), (column, dtype)) for column, dtype in mask.columns)
        missing = sorted(set(listed or ()) - set(types))
        if missing:
            self.refuse("unknown_columns", f"COPY of {mask.name} names {', '.join(missing)}, which the catalog does not list", mask.name)
            return
        chosen = [types[name] for name in listed] if listed else list(mask.columns)
        inner = table.copy()
        projections = [self._masked_or_plain(mask, column, dtype, exp.Column(this=self.planner.identifier(column))) for column, dtype in chosen]
        holder.replace(exp.Subquery(this=exp.Select(expressions=projections).from_(inner, copy=False)))
        self.changed = True
        self.tables.append(mask)

    def _unknown(self, reference: _Reference, references) -> None:
        parent = reference.table.parent
        self.refuse("not_understood", f"{reference.mask.name} appears in a place the masking rewrite does not understand ({type(parent).__name__})", reference.mask.name)

    def _reference(self, reference: _Reference, references) -> None:
        schema = reference.table.parent
        named = [column.name.lower() for column in schema.expressions] if isinstance(schema, exp.Schema) else []
        hits = sorted(set(named) & set(reference.mask.masked)) if named else sorted(reference.mask.masked)
        if hits:
            self.refuse("schema_change", f"a foreign key on {reference.mask.name}.{', '.join(hits)} would make inserts an oracle for classified values", reference.mask.name)

    def _index(self, reference: _Reference, references) -> None:
        index = reference.table.parent
        named = {node.name.lower() for node in index.find_all(exp.Column, exp.Identifier) if node is not index.this}
        hits = sorted(named & set(reference.mask.masked))
        if hits:
            self.refuse("schema_change", f"an index over {reference.mask.name}.{', '.join(hits)} evaluates classified values (errors and uniqueness show them)", reference.mask.name)
        self._stored_row_expressions(reference, index.args.get("params"), "the index")

    def _alter(self, reference: _Reference, references) -> None:
        alter = reference.table.parent
        name = reference.mask.name
        masked = set(reference.mask.masked)
        for action in alter.args.get("actions") or []:
            if isinstance(action, exp.AlterRename):
                new = action.this.name if isinstance(action.this, exp.Table) else str(action.this)
                # only dbt's swap names of the same table keep its classification (``Classifier``)
                if dbt_logical_name(table_part(name)).lower() != dbt_logical_name(new).lower():
                    self.refuse("schema_change", f"renaming the protected table {name} would take it out of its classification", name)
                continue
            if isinstance(action, exp.Drop):
                continue
            own = action.this if isinstance(action, exp.ColumnDef) else None
            named = {
                node.name.lower()
                for node in action.find_all(exp.Column, exp.Identifier)
                if node is not own and not isinstance(node.parent, (exp.DataType, exp.DataTypeParam))
            }
            hits = sorted(named & masked)
            if hits:
                self.refuse("schema_change", f"ALTER of {name} touches classified column(s) {', '.join(hits)} (errors, renames and derived columns expose them)", name)
            self._stored_row_expressions(reference, action, f"ALTER of {name}", own.name.lower() if own is not None else None)

    def _stored_row_expressions(self, reference: _Reference, node: exp.Expression | None, what: str, new_column: str | None = None) -> None:
        """CHECK, GENERATED, index and USING expressions run over every stored row, and their errors,
        results and uniqueness show what they read: each column in them must be a known, unmasked
        column of the table (a whole row or ``customers.to_jsonb`` is neither)."""
        if node is None:
            return
        mask = reference.mask
        table_names = self._target_names(reference) | {mask.name.rsplit(".", 1)[-1].lower()}
        known = mask.column_names() | ({new_column} if new_column else set())
        for column in node.find_all(exp.Column):
            if column.find_ancestor(exp.Reference) is not None:
                continue  # REFERENCES other (cols): the other table's columns, see _reference
            qualifier = column.args.get("table")
            name = column.name.lower()
            if isinstance(column.this, exp.Star) or mask.columns is None or name not in known or (qualifier is not None and normalized(qualifier, self.dialect) not in table_names):
                self.refuse(
                    "schema_change",
                    f"{what} evaluates {column.sql(self.dialect)} over every row of {mask.name}, and it is no known column "
                    "(PostgreSQL would read a whole row, or call a function of it)",
                    mask.name,
                )

    def _insert_target(self, reference: _Reference, references) -> None:
        insert = _statement_of(reference.table)
        if not isinstance(insert, exp.Insert):
            self._unknown(reference, references)
            return
        unknown = sorted(key for key, value in insert.args.items() if value and key not in INSERT_PARTS)
        if unknown:
            self.refuse("not_understood", f"INSERT into {reference.mask.name} with {', '.join(unknown)}, which the masking rewrite does not understand", reference.mask.name)
        conflict = insert.args.get("conflict")
        if conflict is not None:
            keys = [column.name.lower() for key in conflict.args.get("conflict_keys") or [] for column in key.find_all(exp.Column, exp.Identifier)]
            if not keys and (conflict.args.get("action") is not None or conflict.args.get("duplicate")):
                self.refuse("dml_oracle", f"ON CONFLICT on {reference.mask.name} without conflict columns may hinge on a classified unique column (the row count would tell)", reference.mask.name)
            elif set(keys) & set(reference.mask.masked):
                self.refuse("dml_oracle", f"ON CONFLICT ({', '.join(keys)}) on {reference.mask.name} compares classified values (the row count would tell)", reference.mask.name)
            regions = self._assigned_values(reference, conflict.args.get("expressions") or [], "ON CONFLICT")
            regions += [conflict.args[key] for key in ("where", "index_predicate") if conflict.args.get(key) is not None]
            self._target_reads(reference, insert, regions, "ON CONFLICT")
        self._returning(reference, insert)

    def _dml_target(self, reference: _Reference, references) -> None:
        """Every part of UPDATE / DELETE / MERGE that may read the target's raw row, positively listed;
        a part the rewrite does not know is refused."""
        statement = _statement_of(reference.table)
        parts = TARGET_READS.get(type(statement))
        if parts is None or statement.this is not reference.table:
            self._unknown(reference, references)
            return
        verb = type(statement).__name__.upper()
        unknown = sorted(key for key, value in statement.args.items() if value and key not in parts and key not in NOT_TARGET_READS)
        if unknown:
            self.refuse("not_understood", f"{verb} of {reference.mask.name} with {', '.join(unknown)}, which the masking rewrite does not understand", reference.mask.name)
        regions: list[exp.Expression] = []
        for key in parts:
            value = statement.args.get(key)
            if key == "expressions":
                regions += self._assigned_values(reference, value or [], verb)
            elif key == "whens" and value is not None:
                regions += self._merge_branches(reference, value)
            elif isinstance(value, list):
                regions += [item for item in value if isinstance(item, exp.Expression)]
            elif isinstance(value, exp.Expression):
                regions.append(value)
        self._target_reads(reference, statement, regions, verb)
        self._returning(reference, statement)

    def _assigned_values(self, reference: _Reference, assignments: list[exp.Expression], verb: str) -> list[exp.Expression]:
        """The values of ``SET a = ...`` (the assigned column itself is written, not read)."""
        values = []
        for assignment in assignments:
            if isinstance(assignment, exp.EQ):
                values.append(assignment.expression)
            else:
                self.refuse("not_understood", f"{verb} assignment {assignment.sql(self.dialect)} on {reference.mask.name} is not understood", reference.mask.name)
        return values

    def _merge_branches(self, reference: _Reference, whens: exp.Expression) -> list[exp.Expression]:
        regions = []
        for when in whens.expressions:
            if when.args.get("condition") is not None:
                regions.append(when.args["condition"])
            then = when.args.get("then")
            if isinstance(then, exp.Update):
                regions += self._assigned_values(reference, then.expressions, "MERGE")
            elif isinstance(then, exp.Insert):
                if then.expression is not None:
                    regions.append(then.expression)
            elif not (isinstance(then, exp.Var) or then is None or type(then).__name__ == "Delete"):
                self.refuse("not_understood", f"MERGE action {then.sql(self.dialect)} on {reference.mask.name} is not understood", reference.mask.name)
        return regions

    def _target_reads(self, reference: _Reference, statement: exp.Expression, regions: list[exp.Expression], verb: str) -> None:
        """DML reading classified columns of its own protected target: the row count is an oracle."""
        masked = reference.mask.masked
        names = self._target_names(reference)
        for region in regions:
            for column in region.find_all(exp.Column):
                if isinstance(column.this, exp.Star):
                    continue
                if column.name.lower() in masked and self._refers_to_target(column, statement, names):
                    self.refuse(
                        "dml_oracle",
                        f"{verb} reads {reference.mask.name}.{column.name} of its own target; the rows it changes would reveal raw values",
                        reference.mask.name,
                    )

    def _target_names(self, reference: _Reference) -> set[str]:
        names = {reference.alias, normalized(reference.table.this, self.dialect)}
        return names

    def _refers_to_target(self, column: exp.Column, statement: exp.Expression, target_names: set[str]) -> bool:
        qualifier = normalized(column.args["table"], self.dialect) if column.args.get("table") else None
        name = column.name.lower()
        node = column.parent
        while node is not None and node is not statement:
            if isinstance(node, exp.Select):
                for alias, columns in self._sources(node).items():
                    if qualifier is not None and alias == qualifier:
                        return False
                    if qualifier is None and columns is not None and name in columns:
                        return False
            node = node.parent
        if qualifier is None:
            return True
        return qualifier in target_names

    def _sources(self, select: exp.Select) -> dict[str, set[str] | None]:
        return {alias: columns for alias, _, columns in self._scope_sources(select)}

    def _returning(self, reference: _Reference, statement: exp.Expression | None) -> None:
        """Classified columns in RETURNING come back masked; ``*`` is expanded to masked columns."""
        returning = statement.args.get("returning") if statement is not None else None
        if returning is None:
            return
        mask, names = reference.mask, self._target_names(reference)
        if mask.columns is None:
            self.refuse("unknown_columns", f"RETURNING from {mask.name}, whose column list the catalog does not give", mask.name)
            return
        others = bool(statement.args.get("from_") or statement.args.get("using"))
        items = []
        for item in returning.expressions:
            star = isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star) and normalized(item.args["table"], self.dialect) in names)
            if star:
                if isinstance(item, exp.Star) and others:
                    self.refuse("not_understood", f"RETURNING * with other tables besides {mask.name}: list the columns", mask.name)
                    return
                for column, dtype in mask.columns:
                    reference_node = exp.Column(this=self.planner.identifier(column))
                    if column.lower() in mask.masked:
                        self.returned.add((mask.name, mask.masked[column.lower()].column))
                    items.append(self._masked_or_plain(mask, column, dtype, reference_node))
                continue
            items.append(self._mask_target_columns(item, reference, statement, names))
        returning.set("expressions", items)
        self.changed = True
        self.tables.append(mask)

    def _mask_target_columns(self, item: exp.Expression, reference: _Reference, statement: exp.Expression, names: set[str]) -> exp.Expression:
        mask = reference.mask
        types = dict((c.lower(), t) for c, t in mask.columns or ())
        output = item.alias_or_name if isinstance(item, exp.Column) else None

        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                lowered = node.name.lower()
                if lowered in mask.masked and self._refers_to_target(node, statement, names):
                    self.returned.add((mask.name, mask.masked[lowered].column))
                    return self._masked(mask, mask.masked[lowered].column, types.get(lowered), node.copy())
            return node

        # in place: a read inside the item (a subquery) is still replaced by its masked derived table later
        swapped = item.transform(swap, copy=False)
        if output and swapped is not item and not isinstance(swapped, exp.Column):
            return exp.Alias(this=swapped, alias=exp.to_identifier(output))
        return swapped

    # -- rewriting ---------------------------------------------------------------------------------------

    def _masked(self, mask: TableMask, column: str, dtype, reference: exp.Expression) -> exp.Expression:
        try:
            expression = self.planner.mask_for(mask, column, dtype, reference)
        except KeyUnavailable as error:
            self.refuse("hash_key", f"{mask.name}.{column} needs the masking key: {error}", mask.name)
            return exp.Null()
        except MaskError as error:
            self.refuse("strategy", f"{mask.name}.{column}: {error}", mask.name)
            return exp.Null()
        entry = mask.masked[column.lower()]
        self.key_material = self.key_material or (entry.strategy in KEYED and self.planner.keys_in_sql)
        self.masked.setdefault((mask.name, entry.column), MaskedColumn(mask.name, entry.column, entry.tags, entry.strategy))
        return expression

    def _masked_or_plain(self, mask: TableMask, column: str, dtype, reference: exp.Column) -> exp.Expression:
        if column.lower() not in mask.masked:
            return reference
        return exp.Alias(this=self._masked(mask, column, dtype, reference), alias=self.planner.identifier(column))

    def _replace(self, reference: _Reference, tree: exp.Expression) -> None:
        table, mask = reference.table, reference.mask
        alias = table.args.get("alias")
        outer = alias.copy() if alias is not None else exp.TableAlias(this=table.this.copy())
        inner_name = outer.this.copy()
        inner = table.copy()
        inner.set("alias", exp.TableAlias(this=inner_name.copy()))
        inner.set("pivots", None)
        omit = self._unread_keyed(reference, tree)
        projections = [
            self._masked_or_plain(mask, column, dtype, exp.Column(this=self.planner.identifier(column), table=inner_name.copy()))
            for column, dtype in mask.columns
            if column.lower() not in omit
        ]
        derived = exp.Subquery(this=exp.Select(expressions=projections).from_(inner, copy=False), alias=outer)
        if table.args.get("pivots"):
            derived.set("pivots", table.args["pivots"])
        table.replace(derived)
        self.changed = True
        self.tables.append(mask)

    def _unread_keyed(self, reference: _Reference, tree: exp.Expression) -> set[str]:
        """Keyed columns a view cannot read, left out of its derived table: a view keeps its SQL, and
        with the key in the SQL (``masking.hash_key`` env/file) the masks would keep key material."""
        if self.facts.kind != Kind.CREATE_VIEW or not self.planner.keys_in_sql or not reference.mask.keyed:
            return set()
        alias = reference.table.args.get("alias")
        if (alias is not None and alias.args.get("columns")) or reference.mask.name in self.whole_rows:
            return set()  # positions or the whole row count
        if any(isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)) for node in tree.find_all(exp.Star, exp.Column)):
            return set()
        if any(join.args.get("using") or join.args.get("method") for join in tree.find_all(exp.Join)):
            return set()  # USING / NATURAL compare columns by name
        named = {column.name.lower() for column in tree.find_all(exp.Column)}
        return {name for name, mask in reference.mask.masked.items() if mask.strategy in KEYED and name not in named}

    def _unqualify_columns(self, tree: exp.Expression, unaliased: list[_Reference]) -> None:
        """``crm.customers.email`` becomes ``customers.email`` once crm.customers is a derived table."""
        if not unaliased:
            return
        names = {reference.alias for reference in unaliased}
        for column in tree.find_all(exp.Column):
            if column.args.get("db") is not None and column.args.get("table") is not None and normalized(column.args["table"], self.dialect) in names:
                column.set("db", None)
                column.set("catalog", None)


# -- helpers ---------------------------------------------------------------------------------------------


def _moved(references: list[_Reference], source: exp.Expression, tree: exp.Expression) -> list[_Reference]:
    """The references found in ``source``, at the same places of its copy ``tree`` (a copy walks in
    the same order: its n-th table is the n-th table of the source)."""
    twins = {id(original): twin for original, twin in zip(source.find_all(exp.Table), tree.find_all(exp.Table))}
    return [replace(reference, table=twins[id(reference.table)]) for reference in references]


def _role(table: exp.Table) -> str:
    parent, key = table.parent, table.arg_key
    if isinstance(parent, (exp.From, exp.Join)):
        return READ
    if isinstance(parent, exp.Merge) and key == "using":
        return READ
    if isinstance(parent, exp.Delete) and key == "using":
        return READ
    if isinstance(parent, exp.Schema):
        grandparent = parent.parent
        if isinstance(grandparent, exp.Reference):
            return REFERENCE
        if isinstance(grandparent, exp.Insert) and parent.arg_key == "this":
            return INSERT_TARGET
        if isinstance(grandparent, exp.Create) and parent.arg_key == "this":
            return CREATE_TARGET
        if isinstance(grandparent, exp.Copy) and parent.arg_key == "this":
            return COPY
        return UNKNOWN
    if isinstance(parent, exp.Insert) and key == "this":
        return INSERT_TARGET
    if isinstance(parent, (exp.Update, exp.Delete, exp.Merge)) and key == "this":
        return DML_TARGET
    if isinstance(parent, exp.Create) and key == "this":
        return CREATE_TARGET
    if isinstance(parent, exp.Into):
        return CREATE_TARGET
    if isinstance(parent, exp.Copy) and key == "this":
        return COPY
    if isinstance(parent, exp.Alter) and key == "this":
        return ALTER
    if isinstance(parent, exp.Index) and key == "table":
        return INDEX
    if isinstance(parent, exp.Summarize):
        return STATISTICS
    if isinstance(parent, (exp.Drop, exp.TruncateTable, exp.Comment, exp.Describe, exp.Analyze, exp.Grant, exp.Revoke, exp.LikeProperty, exp.AlterRename)):
        return HARMLESS
    return UNKNOWN


def _statement_of(table: exp.Table) -> exp.Expression | None:
    node = table.parent
    while node is not None and not isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        node = node.parent
    return node


def _direct_sources(select: exp.Select) -> list[exp.Expression]:
    sources = []
    from_ = select.args.get("from_")
    if from_ is not None:
        sources.append(from_.this)
    for join in select.args.get("joins") or []:
        sources.append(join.this)
    return sources


def _is_source(table: exp.Expression, select: exp.Select) -> bool:
    return any(source is table for source in _direct_sources(select))


SCOPES = (exp.Select, exp.Update, exp.Delete, exp.Merge, exp.Insert)


def _scopes_around(node: exp.Expression):
    """The SELECT / DML nodes enclosing ``node``, innermost first (where its names resolve)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, SCOPES):
            yield parent
        parent = parent.parent


def _scope_source_nodes(scope: exp.Expression) -> list[exp.Expression]:
    if isinstance(scope, exp.Select):
        return _direct_sources(scope)
    sources = []
    target = scope.this.this if isinstance(scope.this, exp.Schema) else scope.this
    if isinstance(target, exp.Table):
        sources.append(target)
    from_ = scope.args.get("from_")
    if from_ is not None:
        sources.append(from_.this)
        sources += [join.this for join in from_.args.get("joins") or []]
    sources += [join.this for join in scope.args.get("joins") or []]
    using = scope.args.get("using")
    sources += using if isinstance(using, list) else ([using] if using is not None else [])
    return [source for source in sources if isinstance(source, exp.Expression)]


def _excludes(star: exp.Star, names: set[str]) -> bool:
    excluded = {node.name.lower() for key in ("except_", "except", "exclude") for node in (star.args.get(key) or [])}
    return names <= excluded


def _columns_read(facts: StatementFacts, table: str) -> set[str]:
    lowered = table.lower()
    for name, columns in facts.columns_read.items():
        if name.lower() == lowered:
            return set(columns)
    return set()


def _explain_prefix(sql: str, dialect: str) -> str | None:
    from lineage.decide.analysis.commands import classify_command

    try:
        command = sqlglot.parse_one(sql, read=dialect)
    except Exception:
        return None
    if not isinstance(command, exp.Command):
        return None
    inner = classify_command(command, dialect).inner_sql
    text = sql.rstrip().rstrip(";").rstrip()
    if not inner or not text.endswith(inner.rstrip()):
        return None
    return text[: len(text) - len(inner.rstrip())]
