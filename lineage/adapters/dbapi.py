"""Govern any DB-API 2 connection: every ``execute`` goes through the Governor.

    import psycopg
    from lineage.adapters.dbapi import govern

    connection = govern(psycopg.connect(dsn), policy="policy.yaml")   # identity from LINEAGE_* variables
    connection.execute("select email from crm.customers").fetchall()  # checked, masked, stamped, recorded
    connection.execute("drop table crm.customers")                    # raises StatementBlocked

Each statement is decided by the policy, rewritten (masking), stamped with the run-identity
comment, recorded in the ledger (before it runs, and after with rows, duration or error)
and, given an ``events`` collaborator, reported as OpenLineage events. A refused
statement raises the governor's ``StatementBlocked`` or ``ApprovalRequired`` and never
reaches the database. PostgreSQL sessions get ``application_name`` = ``lg:<run id>:<principal>``.

Supported: psycopg 3 and DuckDB connections (``execute``, ``executemany``, ``cursor()``; DuckDB's
``sql``/``query`` shortcuts), and any other DB-API 2 driver through ``cursor().execute``.
Methods that would run SQL or touch tables around the governor (psycopg's ``copy`` and
``stream``, DuckDB's ``table``, ``view``, ``from_query``, ``append``, ...) are refused rather
than passed through: what cannot be governed does not run.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from lineage.decide.catalog import Catalog
from lineage.identity.comment import application_name, escape_for_format_params, identity_comment
from lineage.mask.rewrite import mask_statement
from lineage.decide.engine import Engine, Masker
from lineage.fingerprint import normalize
from lineage.governor import ApprovalsLike, EventsLike, ExecutionContext, Governor, LedgerLike, Outcome
from lineage.identity.run_identity import RunIdentity, from_environment
from lineage.policy import LoadedPolicy, default_policy, load_policy
from lineage.adapters.session_guard import SessionGuard

__all__ = ["govern", "GovernedConnection", "GovernedCursor", "UngovernedMethod"]

_REFUSED = {
    "duckdb": {"table", "view", "from_query", "query_appender", "append", "appender", "table_function", "tf", "query_df"},
    "psycopg": {"copy", "stream"},
}


class UngovernedMethod(AttributeError):
    """A driver method that would run SQL around the governor."""


def govern(
    connection: Any,
    *,
    policy: LoadedPolicy | str | os.PathLike | None = None,
    identity: RunIdentity | None = None,
    ledger: LedgerLike | str | bool | None = None,
    events: EventsLike | None = None,
    approvals: ApprovalsLike | None = None,
    dialect: str | None = None,
    catalog: Catalog | None = None,
    engine: Engine | None = None,
    masker: Masker | None = mask_statement,
) -> "GovernedConnection":
    """Wrap ``connection`` so that every statement it runs is governed.

    - ``policy``: a loaded policy or a YAML path (default ``$LINEAGE_POLICY``, else built-in defaults).
    - ``identity``: who is accountable (default: ``from_environment(source="dbapi")``).
    - ``ledger``: a ledger, a ledger URL, ``None`` for the default ledger (``$LINEAGE_LEDGER_URL``,
      else ``.lineage/ledger.db``) or ``False`` for none.
    - ``events``, ``approvals``: the governor's optional collaborators.
    - ``dialect``: default from the driver (psycopg: postgres, duckdb: duckdb).
    - ``catalog``: default read from the live connection (information_schema), itself stamped and recorded.
    - ``engine``: a ready engine (its policy, catalog and masker are used as they are).
    - ``masker``: the masking step (default: the scan-time rewrite; ``None`` refuses what needs masking).
    """
    driver = _driver(connection)
    dialect = dialect or (engine.dialect if engine is not None else {"psycopg": "postgres", "duckdb": "duckdb", "sqlite3": "sqlite"}.get(driver, "postgres"))
    identity = identity or from_environment(source="dbapi")
    if driver == "psycopg" and identity.database_user is None:
        identity = identity.with_(database_user=connection.info.user)
    ledger = _ledger(ledger)
    if engine is None:
        loaded = _policy(policy)
        internal = _Internal(connection, driver, identity, loaded.version, ledger, dialect)
        if catalog is None:
            catalog = internal.catalog()
        engine = Engine(loaded, catalog, dialect=dialect, masker=masker)
    else:
        internal = _Internal(connection, driver, identity, engine.policy_version, ledger, dialect)
    if driver == "psycopg":
        internal.set_application_name()
    governor = Governor(engine, ledger=ledger, events=events, approvals=approvals)
    guard = SessionGuard(connection, driver, engine, identity)
    return GovernedConnection(connection, governor, identity, _context(connection, driver, dialect), driver, guard)


class _Governed:
    """What a governed connection and its cursors share: run one piece of SQL through the governor."""

    def __init__(self, raw: Any, governor: Governor, identity: RunIdentity, context: ExecutionContext, driver: str, guard: SessionGuard | None = None):
        self._raw = raw
        self._governor = governor
        self._identity = identity
        self._context = context
        self._driver = driver
        self._guard = guard  # the connection's own settings and how its server reads SQL now

    @property
    def identity(self) -> RunIdentity:
        return self._identity

    @property
    def governor(self) -> Governor:
        return self._governor

    def _govern(self, query: Any, params: Any, run: Callable[[str], Any], rowcount: Callable[[Any], int | None] | None = None, executions: int = 1) -> list[Outcome]:
        """Govern ``query`` statement by statement; ``executions`` > 1 for ``executemany``, which the
        server runs (and logs) once per parameter set: the ledger notes the repeats, so that
        ``lineage correlate`` does not take them for replays."""
        sql = _query_text(query, self._raw)
        decisions = self._governor.decide(sql, self._identity, self._context.dialect)
        if params is not None and len(decisions) > 1:
            raise _programming_error(self._driver)(
                f"lineage.adapters.dbapi: {len(decisions)} statements with parameters in one execute cannot be governed one by one; send one statement per execute"
            )
        escape = params is not None and _paramstyle(self._driver) in ("format", "pyformat")

        def run_stamped(final_sql: str) -> Any:
            if executions > 1:
                self._note_repeats(final_sql, executions - 1)
            return run(escape_for_format_params(final_sql) if escape else final_sql)

        outcomes = []
        for decision in decisions:
            if self._guard is not None:  # asked before each statement: the one before may have changed the session
                decision = self._guard.apply(decision)
            outcomes.append(self._governor.execute_decision(decision, self._identity, run_stamped, self._context, rowcount))
        return outcomes

    def _note_repeats(self, final_sql: str, repeats: int) -> None:
        ledger = self._governor.ledger
        if ledger is not None and hasattr(ledger, "record_event"):
            text, fp = normalize(final_sql, self._context.dialect)
            ledger.record_event("executemany", self._identity, {"fingerprint": fp, "sql": text, "repeats": repeats})

    def __getattr__(self, name: str) -> Any:
        if name in _REFUSED.get(self._driver, ()):
            raise UngovernedMethod(
                f"lineage.adapters.dbapi: {type(self._raw).__name__}.{name}() would run SQL around the governor and is refused; use execute()"
            )
        return getattr(self._raw, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # connection.autocommit = True and the like belong to the driver's object
            setattr(self._raw, name, value)


class GovernedCursor(_Governed):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> "GovernedCursor":
        def run(sql: str) -> Any:
            return self._raw.execute(sql, params, **kwargs) if params is not None or kwargs else self._raw.execute(sql)

        self._govern(query, params, run, _rowcount(self._raw))
        return self

    def executemany(self, query: Any, seq_of_params: Iterable[Any], **kwargs: Any) -> Any:
        seq_of_params = list(seq_of_params)
        self._govern(query, seq_of_params or None, lambda sql: self._raw.executemany(sql, seq_of_params, **kwargs), _rowcount(self._raw), len(seq_of_params))
        return self if self._driver == "duckdb" else None

    def __iter__(self):
        return iter(self._raw)

    def __enter__(self) -> "GovernedCursor":
        self._raw.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._raw.__exit__(*exc)


class GovernedConnection(_Governed):
    """The wrapped connection; ``raw_connection`` is the driver's own (ungoverned: ``lineage correlate`` sees its use)."""

    @property
    def raw_connection(self) -> Any:
        return self._raw

    def cursor(self, *args: Any, **kwargs: Any) -> GovernedCursor:
        return GovernedCursor(self._raw.cursor(*args, **kwargs), self._governor, self._identity, self._context, self._driver, self._guard)

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        """psycopg's and DuckDB's shortcut: psycopg returns a cursor, DuckDB the connection."""
        if self._driver == "duckdb":
            self._govern(query, params, lambda sql: self._raw.execute(sql, params) if params is not None else self._raw.execute(sql), _rowcount(self._raw))
            return self
        cursor = self.cursor()
        return cursor.execute(query, params, **kwargs)

    def executemany(self, query: Any, seq_of_params: Iterable[Any], **kwargs: Any) -> Any:
        if self._driver == "duckdb":
            seq_of_params = list(seq_of_params)
            self._govern(query, seq_of_params or None, lambda sql: self._raw.executemany(sql, seq_of_params), _rowcount(self._raw), len(seq_of_params))
            return self
        cursor = self.cursor()
        cursor.executemany(query, seq_of_params, **kwargs)
        return cursor

    def sql(self, query: Any, *args: Any, params: Any = None, **kwargs: Any) -> Any:
        """DuckDB's relational shortcut: governed, returns the last statement's relation."""
        outcomes = self._govern(query, params, lambda sql: self._raw.sql(sql, *args, params=params, **kwargs) if params is not None else self._raw.sql(sql, *args, **kwargs))
        return outcomes[-1].result if outcomes else None

    query = sql

    def close(self) -> None:
        """Close the driver's connection; the ledger records of the statements' ends are flushed first."""
        try:
            self._sync_ledger()
        finally:
            self._raw.close()

    def __enter__(self) -> "GovernedConnection":
        self._raw.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            self._sync_ledger()
        except BaseException:
            self._raw.__exit__(*exc)
            raise
        return self._raw.__exit__(*exc)

    def _sync_ledger(self) -> None:
        sync = getattr(self._governor.ledger, "sync", None)
        if sync is not None:
            sync()


# -- statements lineage itself sends (catalog, application_name) --------------------------------


class _Internal:
    """Lineage's own statements on the governed connection: stamped like any other and
    recorded in the ledger as ``session`` events, so ``lineage correlate`` attributes them."""

    def __init__(self, connection: Any, driver: str, identity: RunIdentity, policy_version: str, ledger: Any, dialect: str):
        self.connection = connection
        self.driver = driver
        self.identity = identity
        self.comment = identity_comment(identity, policy_version)
        self.ledger = ledger
        self.dialect = dialect
        self.purpose = "session"  # what the statements being sent are for, as the ledger records it

    def execute(self, sql: str, params: Any = None) -> Any:
        """Run one of lineage's own statements (the catalog reader calls this as ``connection.execute``)."""
        final = f"{sql.strip()} {self.comment}"
        if params is not None and _paramstyle(self.driver) in ("format", "pyformat"):
            final = escape_for_format_params(final)
        if self.ledger is not None and hasattr(self.ledger, "record_event"):
            text, fp = normalize(sql, self.dialect)
            self.ledger.record_event("session", self.identity, {"purpose": self.purpose, "fingerprint": fp, "sql": text})
        return self.connection.execute(final, params) if params is not None else self.connection.execute(final)

    def catalog(self) -> Catalog:
        self.purpose = "catalog"
        with self._outside_transaction():
            if self.driver == "psycopg":
                return Catalog.from_postgres(self)
            if self.driver == "duckdb":
                return Catalog.from_duckdb(self)
        return Catalog(dialect=self.dialect)

    def set_application_name(self) -> None:
        self.purpose = "application_name"
        with self._outside_transaction():
            self.execute("SELECT set_config('application_name', %s, false)", (application_name(self.identity),))

    @contextlib.contextmanager
    def _outside_transaction(self):
        """On a psycopg connection that was idle, commit lineage's own statements at once, so the
        pipeline's first statement starts its transaction as it would have without governance."""
        idle = self.driver == "psycopg" and not self.connection.autocommit and self.connection.info.transaction_status == 0
        yield
        if idle:
            self.connection.commit()


# -- helpers --------------------------------------------------------------------------------------


def _driver(connection: Any) -> str:
    module = type(connection).__module__.split(".")[0].lstrip("_")
    return module


def _paramstyle(driver: str) -> str:
    module = sys.modules.get(driver) or sys.modules.get(f"_{driver}")
    return getattr(module, "paramstyle", "qmark")


def _programming_error(driver: str) -> type[Exception]:
    module = sys.modules.get(driver)
    error = getattr(module, "ProgrammingError", None)
    return error if isinstance(error, type) and issubclass(error, Exception) else ValueError




def _query_text(query: Any, raw: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        # undecodable bytes stay visible (as lone surrogates) so the analysis refuses them by offset
        return query.decode("utf-8", "surrogateescape")
    as_string = getattr(query, "as_string", None)  # psycopg.sql.Composable
    if as_string is not None:
        connection = getattr(raw, "connection", raw)
        return as_string(connection)
    raise TypeError(f"lineage.adapters.dbapi: cannot govern a query of type {type(query).__name__}; pass SQL text")


def _rowcount(raw: Any) -> Callable[[Any], int | None]:
    def count(_result: Any) -> int | None:
        value = getattr(raw, "rowcount", None)
        return value if isinstance(value, int) and value >= 0 else None

    return count


def _ledger(ledger: Any) -> Any:
    if ledger is False:
        return None
    if ledger is None or isinstance(ledger, (str, Path)):
        from lineage.record import open_ledger

        return open_ledger(ledger)
    return ledger


def _policy(policy: Any) -> LoadedPolicy:
    if isinstance(policy, LoadedPolicy):
        return policy
    path = policy if policy is not None else os.environ.get("LINEAGE_POLICY")
    return load_policy(path) if path else default_policy()


def _context(connection: Any, driver: str, dialect: str) -> ExecutionContext:
    from lineage.deliver.naming import duckdb_namespace, postgres_context

    if driver == "psycopg":
        namespace, database = postgres_context(connection)
        return ExecutionContext(dialect, namespace, database)
    if driver == "duckdb":
        database, path = connection.execute("SELECT database_name, path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
        return ExecutionContext(dialect, duckdb_namespace(path or None), database)
    return ExecutionContext(dialect)
