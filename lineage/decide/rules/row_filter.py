"""Whether the condition of an UPDATE, a DELETE or a MERGE action filters rows, defined positively.

A condition filters when one of its top-level conjuncts compares a column of the target (bare,
cast, or through lower/upper/trim/date_trunc) with a value that does not depend on the row
being changed: a literal, a parameter, a column of another relation (a join), or the rows of
a subquery over another relation (or over the same table, restricted by its own filter).
Everything else counts as no condition at all: the row compared with itself, ``IS NOT NULL``,
functions of the row, unrestricted subqueries over the same table, disjuncts that together
cover every value, shapes this module does not know. Both the condition as written and as
sqlglot's simplifier rewrites it must pass.

    WHERE id = 7                                    -> filters
    WHERE id::text = id::text, id = id + 0, id*0=0  -> filters nothing (the row against itself)
    WHERE id IS NOT NULL, email LIKE '%'            -> filters nothing (every value matches)
    WHERE id IN (SELECT id FROM <same table>)       -> filters nothing (the same rows)
    WHERE id < 5 OR id >= 5                         -> filters nothing (the disjuncts cover every value)
    WHERE id <> 1.5, id <> 2147483648, id::bigint < 9999999999  (id integer)
                                                    -> filters nothing (true for every value of the type)
    WHERE NOT EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = o.customer_id)
                                                    -> filters (rows without a customer)

A comparison other than ``=`` / ``IN`` with a number (``<>``, ``NOT IN``, ranges) filters only when the
column's type is known (from the catalog, through widening casts): its range and its steps (an
integer's whole numbers, ``numeric(10,2)``'s hundredths) must leave a value out. With an unknown type
(or a cast whose values cannot be bounded) it counts as no filter.

What no syntax can tell: a filter that selects every row because of the data (``id > 0`` when
every id is positive, an IN list that names every id). That is the data's business, not a
spelling: the guardrail catches conditions that are true whatever the rows hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from typing import Callable

from sqlglot import exp
from sqlglot.optimizer.simplify import simplify

from lineage.decide.analysis.row_changes import UPSERT
from lineage.disclosure import shown_sql
from lineage.model import RowChange

ColumnsOf = Callable[[str], "dict[str, str] | None"]

TARGET, SAME, INDEPENDENT, UNKNOWN = "target", "same", "independent", "unknown"

_COMPARISONS = {
    exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
    exp.NullSafeEQ: "=", exp.NullSafeNEQ: "<>", exp.Like: "like", exp.ILike: "like",
}
_NEGATED = {"=": "<>", "<>": "=", ">": "<=", "<=": ">", "<": ">=", ">=": "<", "like": "not like", "not like": "like"}
_FLIPPED = {"=": "=", "<>": "<>", ">": "<", "<": ">", ">=": "<=", "<=": ">=", "like": None, "not like": None}
# functions of one target column that keep it a column (not a constant): the judgement looks through them
_TERM_WRAPPERS = (exp.Lower, exp.Upper, exp.Trim, exp.TimestampTrunc, exp.DateTrunc)
_INTEGER_BOUNDS = {
    exp.DataType.Type.TINYINT: (-(2**7), 2**7 - 1), exp.DataType.Type.UTINYINT: (0, 2**8 - 1),
    exp.DataType.Type.SMALLINT: (-(2**15), 2**15 - 1), exp.DataType.Type.USMALLINT: (0, 2**16 - 1),
    exp.DataType.Type.INT: (-(2**31), 2**31 - 1), exp.DataType.Type.UINT: (0, 2**32 - 1),
    exp.DataType.Type.BIGINT: (-(2**63), 2**63 - 1), exp.DataType.Type.UBIGINT: (0, 2**64 - 1),
    exp.DataType.Type.INT128: (-(2**127), 2**127 - 1), exp.DataType.Type.UINT128: (0, 2**128 - 1),
}
_NUMERIC = {exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.MONEY,
            exp.DataType.Type.BIGDECIMAL}
_TIME = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.DATETIME,
         exp.DataType.Type.TIMESTAMPLTZ}
_PRECISION = 2000  # digits of exact decimal arithmetic: literals longer than half of it are not judged
_SPECIAL_NUMBERS = {"-infinity": (0,), "-inf": (0,), "infinity": (2,), "+infinity": (2,), "inf": (2,), "+inf": (2,), "nan": (3,)}


def unfiltered_reason(change: RowChange, columns_of: ColumnsOf, default_schema: str | None = None, dialect: str = "postgres") -> str | None:
    """Why ``change`` touches every row of its table, or None when its condition filters.

    >>> from sqlglot import parse_one
    >>> where = lambda sql: RowChange("delete", "crm.orders", "orders", parse_one(sql))
    >>> unfiltered_reason(where("id = 7"), lambda table: None) is None
    True
    >>> unfiltered_reason(where("id = id + 0"), lambda table: None)[:30]
    'WHERE id = id + ? is no filter'
    """
    clause = change.clause
    if change.condition is None:
        return "no WHERE clause" if clause == "WHERE" else "no ON condition"
    try:
        simplified = simplify(change.condition.copy(), dialect=dialect)
    except Exception:  # the simplifier failing is no proof of anything: judge the condition as written
        simplified = change.condition
    if isinstance(simplified, exp.Boolean) and not simplified.this:
        return None  # never true: touches no row
    filters = False
    judge = None
    if not isinstance(simplified, exp.Boolean):
        judge = _Judge(change, columns_of, default_schema, dialect)
        try:  # the judge only reads the trees: the condition itself needs no copy
            filters = judge.filters(change.condition) and (simplified is change.condition or judge.filters(simplified))
        except Exception:  # an unexpected shape: not proven to filter
            filters = False
    if filters:
        return None
    written = shown_sql(change.condition, dialect)  # literals as ?: messages reach logs and events
    shown = written if len(written) <= 200 else written[:197] + "..."
    if isinstance(simplified, exp.Boolean):
        return f"{clause} {shown} is always true"
    advice = ""
    if judge is not None and judge.unresolved:
        names = ", ".join(sorted(judge.unresolved)[:5])
        advice = f"; the catalog cannot tell which table {names} belong(s) to: qualify with the table's alias"
    if judge is not None and judge.whole_type:
        names = ", ".join(sorted(judge.whole_type)[:5])
        advice += f"; the comparison of {names} holds for every value of its type (a bound at or beyond the type's range, a fraction against whole numbers)"
    if judge is not None and judge.untyped:
        names = ", ".join(sorted(judge.untyped)[:5])
        advice += (f"; the type of {names} is unknown (the catalog does not list it, or a cast hides it), so whether the comparison "
                   f"leaves any value out cannot be told: compare with = or IN, or load the catalog")
    if clause == UPSERT:
        return (f"{clause} updates the rows whose key its source holds ({shown}), and nothing restricts them: "
                f"its rows may be every row of {change.table} (its source reads the table itself, or is not understood). "
                f"Add a WHERE to DO UPDATE that filters the rows of {change.table}, insert a VALUES list, or get an approval "
                f"(a guardrails entry for update_without_where){advice}")
    return (f"{clause} {shown} is no filter: nothing in it restricts the rows of {change.table} "
            f"(a filter compares one of its columns with a literal, a parameter or a value from another relation){advice}")


# -- what names resolve to ------------------------------------------------------------------------


@dataclass(eq=False)
class _Rel:
    alias: str
    table: str | None  # qualified name of a physical table; None for derived tables, functions, VALUES
    same: bool  # another instance of the changed table (or a derived table that reads it)
    columns: frozenset[str] | None  # exactly as the catalog spells them; None when unknown
    physical: bool = False  # a plain stored table (not a function, VALUES or subquery)
    types: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Term:
    key: str  # the term as written, to tell two spellings of one column apart
    column: str
    domain: "_Domain"  # of the term as compared: a cast's or function's result, else the column's
    bare: bool = False  # the column itself, no cast or function around it


@dataclass(frozen=True)
class _Domain:
    kind: str  # bool, int (whole steps between bounds: integers, numeric(p,s)), num, time, text, unknown
    low: tuple | None = None
    high: tuple | None = None
    step: Decimal = Decimal(1)  # int: every value is a multiple of it (numeric(10,2): 0.01)
    nan: bool = False  # int: PostgreSQL's numeric(p,s) also holds NaN


# the kinds whose comparisons with strings this module cannot bound: judged as written (see the docstring)
_TOLERANT = ("text", "time", "bool")


@dataclass
class _Atom:
    filters: bool
    columns: frozenset[str] = frozenset()
    key: str | None = None
    domain: _Domain | None = None
    sets: list[tuple] | None = None  # the values it accepts, when literal; None: not decidable


class _Judge:
    def __init__(self, change: RowChange, columns_of: ColumnsOf, default_schema: str | None, dialect: str):
        self.columns_of = columns_of
        self.dialect = dialect
        parts = change.table.lower().split(".")
        self.bare = parts[-1]
        self.schema = parts[-2] if len(parts) >= 2 else None
        self.default_schema = (default_schema or "").lower() or None
        types = _columns_copy(columns_of(change.table))
        self.target = _Rel(change.target, change.table, True, frozenset(types) if types is not None else None, True, types or {})
        self.ctes = dict(change.ctes)
        self._scopes: dict[int, dict[str, _Rel]] = {}
        self._visiting: set[int] = set()
        self.unresolved: set[str] = set()  # columns the catalog cannot place, for the refusal's advice
        self.untyped: set[str] = set()  # columns compared by range or <> whose type is unknown, likewise
        self.whole_type: set[str] = set()  # comparisons true for every value of the column's type, likewise
        self.base: dict[str, _Rel] = {change.target: self.target}  # derived relations below resolve names through it
        for alias, node in change.relations:
            self.base[alias] = self._relation(alias, node)
        self.base[change.target] = self.target

    # -- relations and scopes ----------------------------------------------------------------

    def _same_table(self, table: exp.Table) -> bool:
        if table.name.lower() != self.bare:
            return False
        schema = table.db.lower() if table.db else None
        # an unqualified name follows the search path: it may be the same table
        return schema is None or self.schema is None or schema == self.schema or self.default_schema in (schema, self.schema)

    def _relation(self, alias: str, node: exp.Expression) -> _Rel:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and not (node.db or node.name not in self.ctes):
            return self._derived(alias, self.ctes[node.name], node)  # a WITH query, by name
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            name = ".".join(part.name for part in (node.args.get("catalog"), node.args.get("db"), node.this) if part is not None and part.name)
            types = _columns_copy(self.columns_of(name))
            return _Rel(alias, name, self._same_table(node), frozenset(types) if types is not None else None, True, types or {})
        if isinstance(node, exp.Subquery):
            return self._derived(alias, node, node)
        if isinstance(node, exp.Values):
            return _Rel(alias, None, not self._independent(node, self.target), _alias_columns(node))
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):  # generate_series(1, 10) AS g
            return _Rel(alias, None, not self._independent(node.this, self.target), _alias_columns(node))
        return _Rel(alias, None, True, None)  # a source the judgement does not know: not independent

    def _derived(self, alias: str, query: exp.Expression, node: exp.Expression) -> _Rel:
        """A derived table or WITH query: another relation when its rows are a proper value source."""
        columns = _alias_columns(node) or _alias_columns(query)
        inner = query.this if isinstance(query, exp.Subquery) else query
        if columns is None and isinstance(inner, exp.Query):
            names = [select.alias_or_name for select in inner.selects]
            columns = frozenset(names) if all(names) and "*" not in names else None
        if id(inner) in self._visiting:  # a recursive WITH query: not provable
            return _Rel(alias, None, True, columns)
        self._visiting.add(id(inner))
        try:
            proper = self._query_value(inner, self.target)
        finally:
            self._visiting.discard(id(inner))
        return _Rel(alias, None, not proper, columns)

    def _scope_of(self, select: exp.Select) -> dict[str, _Rel]:
        cached = self._scopes.get(id(select))
        if cached is None:
            cached = {}
            from_ = select.args.get("from_")
            sources = [from_.this, *from_.expressions] if from_ is not None else []
            sources += [join.this for join in select.args.get("joins") or []]
            for source in sources:
                for join in source.args.get("joins") or []:
                    sources.append(join.this)
                cached[source.alias_or_name] = self._relation(source.alias_or_name, source)
            self._scopes[id(select)] = cached
        return cached

    def _scopes_for(self, node: exp.Expression) -> list[dict[str, _Rel]]:
        chain = []
        parent = node.parent
        while parent is not None:
            if isinstance(parent, exp.Select):
                chain.append(self._scope_of(parent))
            parent = parent.parent
        return [self.base, *reversed(chain)]

    def resolve(self, column: exp.Column) -> _Rel | None:
        scopes = self._scopes_for(column)
        qualifier = column.table
        if qualifier:
            for scope in reversed(scopes):
                if qualifier in scope:
                    return scope[qualifier]
            self.unresolved.add(column.sql(self.dialect))
            return None
        name = column.name  # as normalized: a quoted "ID" is not id, as on the server
        for depth, scope in enumerate(reversed(scopes)):
            outermost = depth == len(scopes) - 1
            having = [rel for rel in scope.values() if rel.columns is not None and name in rel.columns]
            unknown = [rel for rel in scope.values() if rel.columns is None]
            if len(having) == 1 and not unknown:
                return having[0]
            if having or unknown:
                if outermost and len(scope) == 1:
                    return next(iter(scope.values()))  # the only relation it can be
                break  # the server may resolve it to either: not provable
        self.unresolved.add(column.sql(self.dialect))
        return None

    def classify(self, column: exp.Column, target: _Rel) -> str:
        rel = self.resolve(column)
        if rel is None:
            return UNKNOWN
        if rel is target:
            return TARGET
        return SAME if rel.same or rel is self.target else INDEPENDENT

    # -- the judgement ----------------------------------------------------------------------

    def filters(self, condition: exp.Expression, target: _Rel | None = None) -> bool:
        return self._filters(condition, target or self.target, False)

    def _filters(self, node: exp.Expression, target: _Rel, negated: bool) -> bool:
        node = _unparen(node)
        if isinstance(node, exp.Not):
            return self._filters(node.this, target, not negated)
        if isinstance(node, (exp.And, exp.Or)):
            parts = list(node.flatten())
            conjunction = isinstance(node, exp.And) != negated
            if conjunction:
                return any(self._filters(part, target, negated) for part in parts)
            return self._disjunction(parts, target, negated)
        return self._atom(node, target, negated).filters

    def _describe(self, node: exp.Expression, target: _Rel, negated: bool) -> _Atom:
        inner = _unparen(node)
        while isinstance(inner, exp.Not):
            negated, inner = not negated, _unparen(inner.this)
        if isinstance(inner, (exp.And, exp.Or)):
            return _Atom(self._filters(inner, target, negated), self._target_columns(inner, target))
        return self._atom(inner, target, negated)

    def _disjunction(self, parts: list[exp.Expression], target: _Rel, negated: bool) -> bool:
        atoms = [self._describe(part, target, negated) for part in parts]
        if not all(atom.filters for atom in atoms):
            return False
        groups: dict[str, list[_Atom]] = {}
        for index, atom in enumerate(atoms):
            for other in atoms[index + 1 :]:
                if atom.columns & other.columns and (atom.sets is None or other.sets is None or atom.key != other.key):
                    return False  # two disjuncts on one column whose union the judgement cannot bound
            if atom.sets is not None and atom.key is not None:
                groups.setdefault(atom.key, []).append(atom)
        for members in groups.values():
            if len(members) > 1 and _covers([s for atom in members for s in atom.sets], members[0].domain) is not False:
                return False
        return True

    def _target_columns(self, node: exp.Expression, target: _Rel) -> frozenset[str]:
        return frozenset(column.name for column in node.find_all(exp.Column) if self.classify(column, target) == TARGET)

    def _atom(self, node: exp.Expression, target: _Rel, negated: bool) -> _Atom:
        if node.args.get("negate"):
            negated = not negated
        columns = self._target_columns(node, target)
        if isinstance(node, exp.Boolean):
            return _Atom((not node.this) != negated)
        if isinstance(node, exp.Null):
            return _Atom(True)
        if isinstance(node, exp.Is):
            return self._is(node, target, negated, columns)
        if type(node) in _COMPARISONS:
            return self._comparison(node, target, negated, columns)
        if isinstance(node, exp.In):
            return self._in(node, target, negated, columns)
        if isinstance(node, exp.Between):
            return self._between(node, target, negated, columns)
        if isinstance(node, exp.Exists):
            ok = self._negated_exists(node.this, target) if negated else self._exists(node.this, target)
            return _Atom(ok, columns)
        term = self._term(node, target)
        if term is not None:  # a boolean column on its own
            return self._literal_atom(term, "=", exp.Boolean(this=not negated), columns)
        return _Atom(False, columns)

    def _is(self, node: exp.Is, target: _Rel, negated: bool, columns: frozenset[str]) -> _Atom:
        value = node.expression
        if isinstance(value, exp.Boolean):  # P IS TRUE is P; P IS FALSE is NOT P (NULLs aside)
            return self._describe(node.this, target, negated != (value.this is False))
        if isinstance(value, exp.Null):
            term = self._term(node.this, target)
            if term is None:
                return _Atom(False, columns)
            # IS NULL picks rows; IS NOT NULL picks every row with a value
            return _Atom(not negated, columns, term.key, term.domain, [("except", frozenset())] if negated else None)
        return _Atom(False, columns)

    def _comparison(self, node: exp.Expression, target: _Rel, negated: bool, columns: frozenset[str]) -> _Atom:
        op = _COMPARISONS[type(node)]
        return self._sides(_NEGATED[op] if negated else op, node.this, node.expression, target, columns)

    def _sides(self, op: str, left: exp.Expression, right: exp.Expression, target: _Rel, columns: frozenset[str]) -> _Atom:
        """``left op right``, the sides read in place (never re-parented: names resolve by ancestry)."""
        term, value = self._term(left, target), right
        if term is None and _FLIPPED[op] is not None:
            term, value, op = self._term(right, target), left, _FLIPPED[op]
        if term is None:
            if op == "=" and isinstance(left, exp.Tuple) and isinstance(right, exp.Tuple):  # (a, b) = (1, 2): a = 1 AND b = 2
                pairs = zip(left.expressions, right.expressions)
                return _Atom(any(self._sides("=", a, b, target, columns).filters for a, b in pairs), columns)
            return _Atom(False, columns)
        quantified = _quantifier(value)
        if quantified is not None:
            return self._quantified(term, op, *quantified, target=target, columns=columns)
        if op in ("like", "not like"):
            pattern = value.this if isinstance(value, exp.Literal) and value.is_string else None
            if pattern is not None and "%" in pattern and set(pattern) <= {"%", "_"}:
                return _Atom(op == "not like", columns)  # LIKE '%' (or '_%') matches every value (of some length)
            if pattern is None and not self._independent(value, target):
                return _Atom(False, columns)
            return _Atom(pattern is not None or op == "not like", columns)
        if isinstance(_unparen(value), exp.Null) and op in ("=", "<>"):
            # with transform_null_equals on, the server reads x = NULL as x IS NULL: judge it so
            return _Atom(op == "=", columns, term.key, term.domain, None if op == "=" else [("except", frozenset())])
        return self._literal_atom(term, op, value, columns, target)

    def _literal_atom(self, term: _Term, op: str, value: exp.Expression, columns: frozenset[str], target: _Rel | None = None) -> _Atom:
        literal = _literal(value, term.domain)
        if literal is None and target is not None and op in ("<", ">") and term.bare and self._other_instance(value, term, target):
            return _Atom(True, columns)  # a.id < b.id over two instances of the table: the row with the largest id stays
        if literal is None:
            if target is not None and not self._independent(value, target):
                return _Atom(False, columns)
            return _Atom(True, columns, term.key, term.domain, None)
        sets = [_set_for(op, literal)]
        return _Atom(self._leaves_out(sets, term), columns, term.key, term.domain, sets)

    def _leaves_out(self, sets: list[tuple], term: _Term) -> bool:
        """A comparison filters when some value of the column's domain fails it. Cannot tell: only
        for strings, times and booleans is the comparison taken as written (a number against a
        type of unknown range is no filter)."""
        covers = _covers(sets, term.domain)
        if covers is True and term.domain.kind in ("int", "num"):
            self.whole_type.add(term.key)
        elif covers is None and term.domain.kind == "unknown":
            self.untyped.add(term.key)
        return covers is False or (covers is None and term.domain.kind in _TOLERANT)

    def _other_instance(self, value: exp.Expression, term: _Term, target: _Rel) -> bool:
        """``value`` is the same column of another stored instance of the changed table (a self-join)."""
        column = _unparen(value)
        if not isinstance(column, exp.Column) or column.name != term.column:
            return False
        other = self.resolve(column)
        return other is not None and other is not target and other.physical and (other.same or other is self.target)

    def _quantified(self, term: _Term, op: str, quantifier: str, source: exp.Expression, target: _Rel, columns: frozenset[str]) -> _Atom:
        """``= ANY(...)`` is IN, ``<> ALL(...)`` is NOT IN; other quantified comparisons are not judged."""
        members = _array_members(source)
        query = _query_of(source)
        if (op, quantifier) == ("=", "any"):
            if query is not None:
                return _Atom(self._query_value(query, target), columns)
            if members is None:
                return _Atom(isinstance(_unparen(source), (exp.Parameter, exp.Placeholder)), columns)
            return self._members(term, members, False, target, columns)
        if (op, quantifier) == ("<>", "all"):
            if query is not None:
                return _Atom(self._negated_query_value(query, target), columns)
            if not members:  # an empty array or an unknown one: true for every row
                return _Atom(False, columns)
            return self._members(term, members, True, target, columns)
        if (op, quantifier) == ("=", "all") and members:
            return self._members(term, members, False, target, columns)
        return _Atom(False, columns)

    def _in(self, node: exp.In, target: _Rel, negated: bool, columns: frozenset[str]) -> _Atom:
        query = node.args.get("query")
        if isinstance(node.this, exp.Tuple):
            terms = [self._term(item, target) for item in node.this.expressions]
            if negated or not any(terms):
                return _Atom(False, columns)
            if query is not None:
                return _Atom(self._query_value(_query_of(query) or query, target), columns)
            rows = node.expressions
            return _Atom(bool(rows) and all(isinstance(row, exp.Tuple) and self._independent(row, target) for row in rows), columns)
        term = self._term(node.this, target)
        if term is None:
            return _Atom(False, columns)
        if query is not None:
            inner = _query_of(query) or query
            return _Atom(self._negated_query_value(inner, target) if negated else self._query_value(inner, target), columns)
        if not node.expressions:
            return _Atom(False, columns)
        return self._members(term, node.expressions, negated, target, columns)

    def _members(self, term: _Term, members: list[exp.Expression], negated: bool, target: _Rel, columns: frozenset[str]) -> _Atom:
        if not all(self._independent(member, target) for member in members):
            return _Atom(False, columns)
        values = [_literal(member, term.domain) for member in members]
        if any(value is None for value in values):
            return _Atom(not negated, columns, term.key, term.domain, None)
        sets = [("except" if negated else "points", frozenset(values))]
        return _Atom(self._leaves_out(sets, term), columns, term.key, term.domain, sets)

    def _between(self, node: exp.Between, target: _Rel, negated: bool, columns: frozenset[str]) -> _Atom:
        term = self._term(node.this, target)
        low, high = node.args.get("low"), node.args.get("high")
        if term is None or not self._independent(low, target) or not self._independent(high, target):
            return _Atom(False, columns)
        low_value, high_value = _literal(low, term.domain), _literal(high, term.domain)
        if low_value is None or high_value is None:  # parameters, values of other relations
            return _Atom(not negated, columns, term.key, term.domain, None)
        if _order(low_value) is None or _order(high_value) is None:
            return _Atom(not negated and term.domain.kind in _TOLERANT, columns, term.key, term.domain, None)
        if node.args.get("symmetric") and _order(low_value) > _order(high_value):
            low_value, high_value = high_value, low_value
        if negated:
            sets = [("range", None, False, low_value, False), ("range", high_value, False, None, False)]
        else:
            sets = [("range", low_value, True, high_value, True)]
        return _Atom(self._leaves_out(sets, term), columns, term.key, term.domain, sets)

    # -- subqueries --------------------------------------------------------------------------

    def _exists(self, query: exp.Expression, target: _Rel) -> bool:
        """EXISTS filters when its WHERE ties the target row to rows of another relation; a
        subquery that always returns a row (an aggregate, HAVING, GROUP BY ()) never does."""
        select = _select_of(query)
        if select is None or select.args.get("group") is not None or select.args.get("having") is not None:
            return False
        if any(projection.find(exp.AggFunc) for projection in select.selects):
            return False
        where = select.args.get("where")
        return where is not None and self._filters(where.this, target, False)

    def _negated_exists(self, query: exp.Expression, target: _Rel) -> bool:
        """NOT EXISTS filters only in its plainest shape: one stored table of another relation,
        tied to the target row by equalities and nothing else (anything more could make the
        subquery empty for every row, so NOT EXISTS true for every row)."""
        select = _select_of(query)
        rel = self._plain_source(select)
        if rel is None:
            return False
        where = select.args.get("where")
        if where is None:
            return False
        for conjunct in _unparen(where.this).flatten() if isinstance(_unparen(where.this), exp.And) else [where.this]:
            conjunct = _unparen(conjunct)
            if not isinstance(conjunct, (exp.EQ, exp.NullSafeEQ)):
                return False
            sides = [conjunct.this, conjunct.expression]
            terms = [self._term(side, target) for side in sides]
            inner = [side for side in sides if isinstance(_unparen(side), exp.Column) and self.resolve(_unparen(side)) is rel]
            if not any(terms) or not inner:
                return False
        return True

    def _query_value(self, query: exp.Expression, target: _Rel) -> bool:
        """Rows of a subquery used as values (IN, = ANY, a scalar comparison): they must not be
        the target row's own (its columns in the projection) nor the same table unrestricted."""
        if isinstance(query, exp.Subquery):
            query = query.this
        if isinstance(query, exp.SetOperation):
            return self._query_value(query.this, target) and self._query_value(query.expression, target)
        if isinstance(query, exp.Values):
            return self._independent(query, target)
        if not isinstance(query, exp.Select):
            return False
        scope = self._scope_of(query)
        restricted = set()
        for rel in scope.values():
            if rel.same:
                if not _bounded(query):
                    where = query.args.get("where")
                    if where is None or not self._filters(where.this, rel, False):
                        return False
                restricted.add(id(rel))
        for projection in query.selects:
            for column in projection.find_all(exp.Column):
                rel = self.resolve(column)
                if rel is None or rel is target or rel is self.target or (rel.same and id(rel) not in restricted):
                    return False
            for nested in projection.find_all(exp.Select):
                if not self._query_value(nested, target):
                    return False
        return True

    def _negated_query_value(self, query: exp.Expression, target: _Rel) -> bool:
        """NOT IN / <> ALL over a subquery: only a plain column list of another stored table."""
        select = _select_of(query)
        rel = self._plain_source(select)
        if rel is None or select.args.get("where") is not None or len(select.selects) != 1:
            return False
        return self._query_value(select, target)

    def _plain_source(self, select: exp.Select | None) -> _Rel | None:
        if select is None:
            return None
        for clause in ("group", "having", "limit", "offset", "fetch", "qualify", "joins", "with_"):
            if select.args.get(clause):
                return None
        from_ = select.args.get("from_")
        if from_ is None or from_.expressions or not isinstance(from_.this, exp.Table) or from_.this.args.get("joins"):
            return None
        rel = self._scope_of(select).get(from_.this.alias_or_name)
        if rel is None or rel.same or not rel.physical:
            return None
        return rel

    def _independent(self, value: exp.Expression | None, target: _Rel) -> bool:
        """A value that is the same for every row of the target: literals, parameters, functions
        of those, columns of other relations, subqueries that are proper value sources."""
        if value is None:
            return False
        nested = set()
        for query in value.find_all(exp.Select):
            if not any(id(ancestor) in nested for ancestor in _ancestors(query, value)):
                if not self._query_value(query, target):
                    return False
                nested.add(id(query))
        for column in value.find_all(exp.Column):
            if any(id(ancestor) in nested for ancestor in _ancestors(column, value)):
                continue
            if self.classify(column, target) != INDEPENDENT:
                return False
        return not any(isinstance(node, exp.Star) for node in value.find_all(exp.Star))

    # -- terms -------------------------------------------------------------------------------

    def _term(self, node: exp.Expression, target: _Rel) -> _Term | None:
        """A target column, possibly cast or inside lower/upper/trim/date_trunc."""
        inner = _unparen(node)
        wrappers: list[tuple[bool, _Domain]] = []  # (a cast, its result's domain), outermost first
        bare = True
        while True:
            if isinstance(inner, (exp.Cast, exp.TryCast)):
                wrappers.append((True, _domain_of_type(inner.to)))
            elif isinstance(inner, _TERM_WRAPPERS):
                if any(key not in ("this", "unit") and value is not None for key, value in inner.args.items()):
                    return None  # trim(BOTH 'x' FROM col), ...: not a plain wrapper
                if "unit" in inner.args and not isinstance(inner.args["unit"], (exp.Var, exp.Literal)):
                    return None
                wrappers.append((False, _Domain("text") if isinstance(inner, (exp.Lower, exp.Upper, exp.Trim)) else _Domain("time")))
            else:
                break
            bare = False
            inner = _unparen(inner.this)
        if not isinstance(inner, exp.Column) or isinstance(inner.this, exp.Star) or self.classify(inner, target) != TARGET:
            return None
        name = inner.name
        domain = _domain_of_type(target.types.get(name))
        for cast, result in reversed(wrappers):
            domain = _image(domain, result) if cast else result
        return _Term(_unparen(node).sql(self.dialect), name, domain, bare)


# -- values and sets ------------------------------------------------------------------------------


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _ancestors(node: exp.Expression, root: exp.Expression):
    parent = node.parent
    while parent is not None and parent is not root:
        yield parent
        parent = parent.parent


def _columns_copy(columns: dict[str, str] | None) -> dict[str, str] | None:
    return None if columns is None else dict(columns)


def _alias_columns(node: exp.Expression) -> frozenset[str] | None:
    alias = node.args.get("alias") if isinstance(node, exp.Expression) else None
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return frozenset(column.name for column in alias.columns)
    return None


def _bounded(select: exp.Select) -> bool:
    """LIMIT or FETCH with a positive number (LIMIT ALL, NULL or a parameter may be no limit)."""
    limit = select.args.get("limit")
    fetch = select.args.get("fetch")
    count = limit.expression if isinstance(limit, exp.Limit) else (fetch.args.get("count") if isinstance(fetch, exp.Fetch) else None)
    return isinstance(count, exp.Literal) and not count.is_string


def _select_of(query: exp.Expression | None) -> exp.Select | None:
    while isinstance(query, exp.Subquery):
        query = query.this
    return query if isinstance(query, exp.Select) else None


def _query_of(node: exp.Expression) -> exp.Expression | None:
    """The subquery in ``(SELECT ...)``, ``ARRAY(SELECT ...)``, ``ANY(SELECT ...)``."""
    node = _unparen(node)
    if isinstance(node, exp.Subquery):
        return node.this
    if isinstance(node, exp.Query):
        return node
    if isinstance(node, exp.Array) and len(node.expressions) == 1 and isinstance(_unparen(node.expressions[0]), (exp.Query, exp.Subquery)):
        return _query_of(node.expressions[0])
    return None


def _quantifier(value: exp.Expression) -> tuple[str, exp.Expression] | None:
    if isinstance(value, exp.Any):
        return "any", value.this
    if isinstance(value, exp.All):
        return "all", value.this
    if isinstance(value, exp.Anonymous) and str(value.this).lower() in ("any", "all", "some") and len(value.expressions) == 1:
        return ("all" if str(value.this).lower() == "all" else "any"), value.expressions[0]
    return None


def _array_members(source: exp.Expression) -> list[exp.Expression] | None:
    source = _unparen(source)
    while isinstance(source, exp.Cast):
        source = _unparen(source.this)
    if isinstance(source, exp.Array) and _query_of(source) is None:
        return list(source.expressions)
    if isinstance(source, exp.Literal) and source.is_string:  # '{1,2}': PostgreSQL's array text
        text = source.this.strip()
        if text.startswith("{") and text.endswith("}") and '"' not in text and "\\" not in text:
            inner = text[1:-1].strip()
            return [exp.Literal.string(item.strip()) for item in inner.split(",")] if inner else []
    return None


def _domain_of_type(data_type) -> _Domain:
    if data_type is None:
        return _Domain("unknown")
    if not isinstance(data_type, exp.DataType):
        try:
            data_type = exp.DataType.build(str(data_type), dialect="postgres")
        except Exception:
            return _Domain("unknown")
    kind = data_type.this
    if kind == exp.DataType.Type.BOOLEAN:
        return _Domain("bool")
    if kind in _INTEGER_BOUNDS:
        low, high = _INTEGER_BOUNDS[kind]
        return _Domain("int", (1, Decimal(low)), (1, Decimal(high)))
    if kind == exp.DataType.Type.DECIMAL and data_type.expressions:
        try:
            precision = int(data_type.expressions[0].name)
            scale = int(data_type.expressions[1].name) if len(data_type.expressions) > 1 else 0
        except (TypeError, ValueError):
            return _Domain("unknown")
        with localcontext() as context:  # numeric(1000, 0): exactly, not to 28 digits
            context.prec, context.Emax, context.Emin = _PRECISION, 10 * _PRECISION, -10 * _PRECISION
            step = Decimal(1).scaleb(-scale)
            top = (Decimal(10) ** precision - 1) * step
        return _Domain("int", (1, -top), (1, top), step, nan=True)
    if kind in _NUMERIC:
        return _Domain("num")
    if kind in _TIME:
        return _Domain("time")
    if kind in exp.DataType.TEXT_TYPES:
        return _Domain("text")
    return _Domain("unknown")


def _literal(node: exp.Expression | None, domain: _Domain):
    """A literal's value as ("bool", b), ("num", order key) or ("str", s); None when not a literal."""
    node = _unparen(node) if node is not None else None
    casts = []
    while isinstance(node, exp.Cast):
        casts.append(_domain_of_type(node.to))
        node = _unparen(node.this)
    if isinstance(node, exp.Boolean):
        return ("bool", node.this)
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, _unparen(node.this)
        while isinstance(node, exp.Cast):
            casts.append(_domain_of_type(node.to))
            node = _unparen(node.this)
    if not isinstance(node, exp.Literal):
        return None
    value = _plain_literal(node, negative, domain)
    if value is not None and value[0] == "num" and any(cast.kind == "int" and _member(value, cast) is not True for cast in casts):
        return ("str", node.this)  # 1.5::int is 2: the value compared is not the one written
    return value


def _plain_literal(node: exp.Literal, negative: bool, domain: _Domain):
    text = node.this
    if not node.is_string or domain.kind in ("int", "num") or (domain.kind == "time" and text.strip().lower() in _SPECIAL_NUMBERS):
        special = _SPECIAL_NUMBERS.get(text.strip().lower())
        if special is not None and node.is_string:
            return ("num", special if not negative else {(0,): (2,), (2,): (0,), (3,): (3,)}[special])
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            return None if not node.is_string else ("str", text)
        return ("num", (1, number.copy_negate() if negative else number))  # exact: unary minus rounds to 28 digits
    if negative:
        return None
    if domain.kind == "bool":
        from lineage.decide.analysis.settings_allowlist import parse_bool

        value = parse_bool(text.strip())
        return ("bool", value) if value is not None else None
    return ("str", text)


def _set_for(op: str, value) -> tuple:
    if op == "=":
        return ("points", frozenset({value}))
    if op == "<>":
        return ("except", frozenset({value}))
    if op in (">", ">="):
        return ("range", value, op == ">=", None, False)
    return ("range", None, False, value, op == "<=")


def _order(value):
    return value[1] if value[0] == "num" else None


def _covers(sets: list[tuple], domain: _Domain | None) -> bool | None:
    """Whether the union of ``sets`` holds every (non-NULL) value of the domain; None: cannot tell."""
    domain = domain or _Domain("unknown")
    excepts = [s[1] for s in sets if s[0] == "except"]
    points = set().union(*(s[1] for s in sets if s[0] == "points"))
    ranges = [s for s in sets if s[0] == "range"]
    if excepts:
        missing = set(excepts[0]).intersection(*excepts[1:])
        for value in list(missing):
            if value in points or any(_in_range(value, r) is True for r in ranges):
                missing.discard(value)
                continue
            member = _member(value, domain)
            if member is None:
                return None
            if not member:
                missing.discard(value)  # <> 1.5 on an integer leaves out no integer
        return not missing
    if domain.kind == "bool" or any(value[0] == "bool" for value in points):
        if ranges:
            return None
        return {("bool", True), ("bool", False)} <= points
    if any(value[0] == "str" for value in points) or any(bound is not None and bound[0] == "str" for r in ranges for bound in (r[1], r[3])):
        if any(r[1] == ("str", "") and r[2] and r[3] is None for r in ranges):
            return True  # >= '' holds every string
        return None if ranges else False
    if not ranges and domain.kind != "int":
        return False
    if domain.kind == "unknown":
        return None  # a range on a column of unknown type: its bounds may be the type's
    return _numeric_cover(ranges, points, domain)


def _in_range(value, bounds: tuple) -> bool | None:
    _, low, low_inclusive, high, high_inclusive = bounds
    if value[0] != "num" or (low is not None and low[0] != "num") or (high is not None and high[0] != "num"):
        return None
    key = value[1]
    if low is not None and (key < low[1] or (key == low[1] and not low_inclusive)):
        return False
    if high is not None and (key > high[1] or (key == high[1] and not high_inclusive)):
        return False
    return True


def _numeric_cover(ranges: list[tuple], points: set, domain: _Domain) -> bool | None:
    """Intervals over the order -inf < numbers < +inf < NaN; over integers, whole steps."""
    intervals = []
    for _, low, low_inclusive, high, high_inclusive in ranges:
        intervals.append(((low[1], low_inclusive) if low is not None else ((0,), True),
                          (high[1], high_inclusive) if high is not None else ((3,), True)))
    for value in points:
        if value[0] != "num":
            return None
        intervals.append(((value[1], True), (value[1], True)))
    if domain.kind == "int":
        return _stepped_cover(intervals, domain)
    # numbers, times, unknown: the infinities and NaN aside (a bound at one of them misses only that value)
    start, stop = ((0,), False), ((2,), False)
    reach = (start[0], not start[1])  # covered so far: everything below reach[0], and reach[0] itself if reach[1]
    for (low, low_inclusive), (high, high_inclusive) in sorted(intervals, key=lambda item: (item[0][0], not item[0][1])):
        if low > reach[0] or (low == reach[0] and not (low_inclusive or reach[1])):
            break  # a gap before this interval
        if high > reach[0] or (high == reach[0] and high_inclusive and not reach[1]):
            reach = (high, high_inclusive)
    return reach[0] > stop[0] or (reach[0] == stop[0] and (reach[1] or not stop[1]))


def _stepped_cover(intervals: list, domain: _Domain) -> bool | None:
    """Over the domain's steps (whole numbers of ``step``), exactly: a literal's digits are kept whole."""
    with localcontext() as context:
        context.prec, context.Emax, context.Emin = _PRECISION, 10 * _PRECISION, -10 * _PRECISION
        return _integer_cover([((_in_steps(low, domain.step), li), (_in_steps(high, domain.step), hi)) for (low, li), (high, hi) in intervals],
                              domain.low[1] / domain.step, domain.high[1] / domain.step)


def _in_steps(key: tuple, step: Decimal) -> tuple | None:
    if len(key) != 2:
        return key
    if len(key[1].as_tuple().digits) > _PRECISION // 2:
        return None  # too many digits to count exactly: not judged
    return (1, key[1] / step)


def _member(value, domain: _Domain) -> bool | None:
    """Whether a literal is a value of the domain (``1.5`` is no integer); None: cannot tell."""
    if domain.kind == "unknown":
        return None
    if domain.kind != "int":
        return True
    if value[0] != "num":
        return None
    key = value[1]
    if len(key) != 2:
        return key == (3,) and domain.nan  # no integer is infinite; numeric(p,s) holds NaN
    number = key[1]
    if number < domain.low[1] or number > domain.high[1]:
        return False
    try:
        with localcontext() as context:
            context.prec = _PRECISION
            return number % domain.step == 0
    except ArithmeticError:
        return None


def _image(source: _Domain, result: _Domain) -> _Domain:
    """The values ``CAST(<a value of source> AS <result's type>)`` can take (all of them, or fewer:
    fewer only ever makes a comparison look true for more rows, so refused more often)."""
    if source.kind == "unknown":
        return result if result.kind in _TOLERANT else _Domain("unknown")
    if result.kind == "int":
        if source.kind in ("num", "text"):
            return result  # any value of the result's type can come out
        if source.kind != "int":
            return _Domain("unknown")
        with localcontext() as context:
            context.prec = _PRECISION
            step = source.step if source.step % result.step == 0 else result.step  # a finer type keeps the steps; a coarser rounds to its own
            low = max(_to_step(source.low[1], step, "ROUND_CEILING"), _to_step(result.low[1], step, "ROUND_CEILING"))
            high = min(_to_step(source.high[1], step, "ROUND_FLOOR"), _to_step(result.high[1], step, "ROUND_FLOOR"))
        if low > high:
            return _Domain("unknown")
        return _Domain("int", (1, low), (1, high), step, nan=source.nan and result.nan)
    if result.kind == "num":
        if source.kind == "num":
            return result
        if source.kind == "int" and source.step >= 1 and max(-source.low[1], source.high[1]) <= 2**53:
            return source  # whole numbers a double holds exactly
        return _Domain("unknown")
    if result.kind in ("text", "time") and source.kind in ("int", "num", "bool"):
        return _Domain("unknown")  # numbers as text are some strings only
    return result


def _to_step(number: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (number / step).to_integral_value(rounding=rounding) * step


def _integer_cover(intervals: list, low_bound: Decimal, high_bound: Decimal) -> bool | None:
    spans = []
    for (low, low_inclusive), (high, high_inclusive) in intervals:
        if low is None or high is None:
            return None
        if low == (0,):
            first = low_bound
        elif len(low) == 2:
            first = low[1].to_integral_value(rounding="ROUND_CEILING") if low_inclusive else low[1].to_integral_value(rounding="ROUND_FLOOR") + 1
        else:
            return None  # 'infinity' is no integer
        if high == (3,):
            last = high_bound
        elif len(high) == 2:
            last = high[1].to_integral_value(rounding="ROUND_FLOOR") if high_inclusive else high[1].to_integral_value(rounding="ROUND_CEILING") - 1
        else:
            return None
        spans.append((first, last))
    reach = low_bound - 1
    for first, last in sorted(spans):
        if first > reach + 1:
            break
        reach = max(reach, last)
    return reach >= high_bound
