"""Which relation an unqualified name reaches, resolved as PostgreSQL would: the session's
search_path, followed through the run's own statements.

The analysis qualifies an unqualified name with the default schema (``public``). The server
does not: it searches the session's temporary schema, then ``pg_catalog`` (unless the path
names them), then the path's schemas in order, and a ``SET search_path`` earlier in the run
changes that path. A grant planned on the analysis' guess would give the role a table it never
reads and leave the one it does read ungranted:

    set search_path = hr; select * from salaries
    -> analysis: reads public.salaries; the server: hr.salaries (when hr.salaries exists)

``SearchPath`` follows ``SET [SESSION|LOCAL] search_path``, ``RESET``, transaction ends and
``set_config``; whatever it cannot follow makes the path unknown, and unqualified names after
that resolve to nothing (no grant: the statement fails closed with *permission denied*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlglot import exp, tokens
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from lineage.decide.analysis.statements import get_dialect

DEFAULT_PATH = ("$user", "public")
CATALOG_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
TEMP_SCHEMA = "pg_temp"

@dataclass(frozen=True)
class StatementNames:
    """The names one statement uses, as written."""

    bare: frozenset[str] = frozenset()  # relations named without a schema
    qualified: frozenset[tuple[str, str]] = frozenset()  # (schema, relation) named with one
    temporary: frozenset[str] = frozenset()  # relations it creates as TEMPORARY
    functions: frozenset[str] = frozenset()  # functions it calls (lower case, schema dropped)
    changes_path: bool = False  # calls set_config: the path after it cannot be followed
    parsed: bool = True


def statement_names(sql: str, dialect: str = "postgres") -> StatementNames:
    """The relations and functions a statement names, as written.

    >>> names = statement_names("select lower(a) from t join hr.s using (id)")
    >>> sorted(names.bare), sorted(names.qualified), sorted(names.functions)
    (['t'], [('hr', 's')], ['lower'])
    """
    import sqlglot

    try:
        tree = sqlglot.parse_one(sql, read=get_dialect(dialect))
        tree = normalize_identifiers(tree, dialect=get_dialect(dialect))
    except Exception:
        return StatementNames(parsed=False)
    if tree is None or isinstance(tree, exp.Command):
        return StatementNames(parsed=not isinstance(tree, exp.Command))
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    bare: set[str] = set()
    qualified: set[tuple[str, str]] = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: its name is a function's
        if table.args.get("db"):
            qualified.add((table.db, table.name))
        elif table.name not in ctes:
            bare.add(table.name)
    temporary: set[str] = set()
    if isinstance(tree, exp.Create) and tree.find(exp.TemporaryProperty) is not None:
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        if isinstance(target, exp.Table) and not target.args.get("db"):
            temporary.add(target.name)
    for into in tree.find_all(exp.Into):
        if into.args.get("temporary") and isinstance(into.this, exp.Table) and not into.this.args.get("db"):
            temporary.add(into.this.name)
    functions = {_function_name(node) for node in tree.find_all(exp.Func)}
    functions.discard("")
    return StatementNames(frozenset(bare), frozenset(qualified), frozenset(temporary), frozenset(functions), "set_config" in functions)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    try:
        return node.sql_name().lower()
    except Exception:
        return ""


def parse_path(text: str) -> tuple[str, ...] | None:
    """A search_path setting's schemas as the server reads the setting's text (None: unreadable).

    >>> parse_path('"$user", public, "HR", Mart')
    ('$user', 'public', 'HR', 'mart')
    """
    try:
        items = get_dialect("postgres").tokenize(text)
    except Exception:
        return None
    schemas: list[str] = []
    expect_name = True
    for token in items:
        if expect_name and token.token_type == tokens.TokenType.IDENTIFIER:
            schemas.append(token.text)
        elif expect_name and token.text.replace("_", "a").replace("$", "a").isalnum():
            schemas.append(token.text.lower())
        elif not expect_name and token.token_type == tokens.TokenType.COMMA:
            expect_name = True
            continue
        else:
            return None
        expect_name = False
    if expect_name and schemas:
        return None  # a trailing comma
    return tuple(schemas)


@dataclass
class SearchPath:
    """The session's search_path through a run's statements (``None``: cannot be followed)."""

    session: tuple[str, ...] | None = DEFAULT_PATH
    default: tuple[str, ...] | None = DEFAULT_PATH
    local: tuple[str, ...] | None = field(default=None)
    has_local: bool = False
    saved: tuple[tuple[str, ...] | None, ...] | None = None  # at BEGIN: restored by ROLLBACK

    def _assigned(self, value) -> tuple[str, ...] | None:
        """``SET search_path = <value>`` with one value (sqlglot keeps lists as a Command)."""
        if isinstance(value, exp.Column) and isinstance(value.this, exp.Identifier) and not value.table:
            value = value.this
        if isinstance(value, exp.Var):
            return self.default if value.name.lower() == "default" else (value.name.lower(),)
        if isinstance(value, exp.Identifier):
            return (value.name if value.quoted else value.name.lower(),)
        if isinstance(value, exp.Literal) and value.is_string:
            return (value.name,)  # one string is one schema, quoted ('a, b' names a schema "a, b")
        return None

    @property
    def current(self) -> tuple[str, ...] | None:
        return self.local if self.has_local else self.session

    def after(self, facts, names: StatementNames) -> None:
        """Apply one statement's effect on the path (after it ran)."""
        expression = getattr(facts, "expression", None)
        if names.changes_path:
            self.session, self.has_local = None, False
            return
        if isinstance(expression, exp.Transaction):
            self.saved = (self.session,)
            return
        if isinstance(expression, (exp.Commit, exp.Rollback)):
            if isinstance(expression, exp.Rollback) and expression.args.get("savepoint"):
                self.session, self.has_local = None, False  # ROLLBACK TO SAVEPOINT: which SETs it undid is not followed
                return
            if isinstance(expression, exp.Rollback):
                # without a BEGIN seen, the SETs it undoes are those of the driver's implicit transaction
                self.session = self.saved[0] if self.saved is not None else None
            self.has_local, self.saved = False, None
            return
        if isinstance(expression, exp.Set):
            for item in expression.expressions:
                assignment = item.this
                if not isinstance(assignment, exp.EQ) or assignment.this.name.lower() != "search_path":
                    continue
                path = self._assigned(assignment.expression)
                if (item.args.get("kind") or "").upper() == "LOCAL":
                    # outside a BEGIN it depends on whether the driver opened a transaction: not followed
                    self.local, self.has_local = (path if self.saved is not None else None), True
                else:
                    self.session = path
            return
        if isinstance(expression, exp.Command):
            verb = str(expression.this or "").upper()
            rest = expression.expression.name.lower() if isinstance(expression.expression, exp.Literal) else ""
            if verb == "RESET" and rest in ("search_path", "all") or verb == "DISCARD" and rest == "all":
                self.session, self.has_local = self.default, False
            elif verb in ("SET", "RESET", "DISCARD", "SAVEPOINT", "RELEASE", "START", "END", "ABORT"):
                self.session, self.has_local = None, False  # a form the plan does not follow


class Catalog(Protocol):
    """The live database's relations and schemas (the admin connection)."""

    def relation_exists(self, schema: str, relation: str) -> bool: ...

    def schema_exists(self, schema: str) -> bool: ...


@dataclass
class Resolver:
    """Names an unqualified relation's schema as the server would for the role's session.

    Without a live catalog (``lineage jit plan``) a name resolves to the first schema the path
    names (``pg_catalog`` for ``pg_*`` names)."""

    catalog: Catalog | None = None
    role: str | None = None
    created: set[tuple[str, str]] = field(default_factory=set)  # made earlier in the run
    temporary: set[str] = field(default_factory=set)  # the run's temporary tables

    def _schemas(self, path: tuple[str, ...]) -> list[str]:
        # "$user" is the session user's schema; offline the role is not known yet (it has none)
        return [self.role if entry == "$user" else entry for entry in path if entry != "$user" or self.role]

    def _exists(self, schema: str, relation: str) -> bool:
        if (schema, relation) in self.created:
            return True
        if self.catalog is None:
            return relation.startswith("pg_") if schema in CATALOG_SCHEMAS else True
        return self.catalog.relation_exists(schema, relation)

    def relation(self, relation: str, path: tuple[str, ...] | None) -> str | None:
        """The schema ``relation`` is read from (``pg_temp`` for the run's temporary tables), or None."""
        if path is None:
            return None
        schemas = self._schemas(path)
        if TEMP_SCHEMA not in schemas:
            schemas.insert(0, TEMP_SCHEMA)
        if "pg_catalog" not in schemas:
            schemas.insert(schemas.index(TEMP_SCHEMA) + 1 if schemas[0] == TEMP_SCHEMA else 0, "pg_catalog")
        for schema in schemas:
            if schema == TEMP_SCHEMA:
                if relation in self.temporary:
                    return TEMP_SCHEMA
            elif self._exists(schema, relation):
                return schema
        return None

    def creation_schema(self, path: tuple[str, ...] | None) -> str | None:
        """Where CREATE puts an unqualified relation: the first schema on the path that exists."""
        if path is None:
            return None
        for schema in self._schemas(path):
            if schema == TEMP_SCHEMA:
                continue
            if self.catalog is None or self.catalog.schema_exists(schema):
                return schema
        return None
