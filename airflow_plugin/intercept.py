"""SQL interception at common-sql's DbApiHook: every statement of every task goes through the governor.

Where statements go through a DbApiHook (apache-airflow-providers-common-sql 1.x/2.x):

    SQLExecuteQueryOperator.execute -> hook.run -> _run_command(cur, sql)  per statement
    hook.get_records / get_first    -> hook.run -> _run_command(cur, sql)
    hook.get_df / get_pandas_df     -> pandas over get_conn(), or over get_sqlalchemy_engine() (PostgresHook)
    hook.get_conn() in user code    -> a raw DB-API connection
    hook.insert_rows, copy_expert   -> get_conn() and the cursor directly

What is patched (once per class, lazily on the first hook of each class, generic for any
DbApiHook subclass):

- ``_run_command``: the statement is decided and run through the governor (check, mask rewrite,
  identity comment, ledger, events); ``run`` marks its scope so its own ``get_conn`` is raw.
- ``get_conn``: outside ``run`` (user code, get_df over pandas, insert_rows, chunked reads) the
  connection is wrapped by ``lineage.adapters.dbapi`` so every ``execute`` is governed the same way.
- ``get_sqlalchemy_engine``: the engine's DBAPI executes go through the governor (SQLAlchemy's
  ``do_execute`` events): PostgresHook.get_df, the inspector, user code with the engine.
- ``_create_connection`` (PostgresHook): the session's ``application_name`` names the run.
- The OpenLineage provider's metadata lookups (``get_table_schemas`` over information_schema,
  ``get_openlineage_default_schema``) run raw and are not reported as user access, provided
  the statement reads nothing but catalog views (else it is governed like any other).

Outside a running task (DAG parsing, the API server testing a connection) hooks are untouched.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Callable

from lineage.identity.comment import escape_for_format_params

from airflow_plugin.scopes import DIALECT_SETUP, GOVERNED, PROVIDER_METADATA, RAW, STANDING_CREDENTIALS, scope

log = logging.getLogger("airflow.task.lineage_governance")

MARK = "__lineage_governed__"
_install_lock = threading.Lock()
_installed = False


def _governance():
    """The running task's governance, or None; an unusable policy fails the task here."""
    from airflow_plugin.failures import GovernanceConfigError, fail
    from airflow_plugin.runtime import current

    try:
        return current()
    except GovernanceConfigError as error:
        raise fail(str(error)) from None


# -- wrappers, one per patched method ------------------------------------------------------------


def _wrap_run(original: Callable) -> Callable:
    @functools.wraps(original)
    def run(self, *args, **kwargs):
        from airflow_plugin.refusal import is_refusal, without_internals

        try:
            with scope(RAW):
                return original(self, *args, **kwargs)
        except Exception as error:
            if is_refusal(error):  # the outermost plugin frame: the traceback starts here
                raise without_internals(error) from None
            raise

    return run


def _wrap_run_command(original: Callable) -> Callable:
    @functools.wraps(original)
    def _run_command(self, cur, sql_statement, parameters=None, *args, **kwargs):
        if GOVERNED.get():
            return original(self, cur, sql_statement, parameters, *args, **kwargs)
        governance = _governance()
        if governance is None:
            return original(self, cur, sql_statement, parameters, *args, **kwargs)
        if PROVIDER_METADATA.get() and governance.is_metadata_query(self, sql_statement):
            return original(self, cur, sql_statement, parameters, *args, **kwargs)

        escape = bool(parameters) and getattr(self, "placeholder", "%s") == "%s"

        def execute(final_sql: str):
            if escape:  # the comment's URL-encoded '%' would read as placeholders
                final_sql = escape_for_format_params(final_sql)
            return original(self, cur, final_sql, parameters, *args, **kwargs)

        from airflow_plugin.refusal import is_refusal, without_internals

        try:
            with scope(GOVERNED), scope(RAW):
                return governance.govern(self, sql_statement, execute, rowcount=lambda _: _rowcount(cur))
        except Exception as error:
            if is_refusal(error):  # the task log shows the refusal, not the plugin's frames
                raise without_internals(error) from None
            raise

    return _run_command


def _wrap_get_sqlalchemy_engine(original: Callable) -> Callable:
    @functools.wraps(original)
    def get_sqlalchemy_engine(self, engine_kwargs=None, *args, **kwargs):
        governance = _governance()
        if governance is None:
            return original(self, engine_kwargs, *args, **kwargs)
        role = None
        if governance.binding(self).target.is_postgres:
            from lineage.identity.comment import application_name

            from airflow_plugin.jit import credentials

            engine_kwargs = dict(engine_kwargs or {})
            connect_args = dict(engine_kwargs.get("connect_args") or {})
            connect_args["application_name"] = application_name(governance.identity)
            role = credentials(governance, self)
            if role is not None:  # psycopg's keyword arguments win over the URL's login
                connect_args["user"], connect_args["password"] = role
            engine_kwargs["connect_args"] = connect_args
        engine = original(self, engine_kwargs, *args, **kwargs)
        if role is not None:  # every pooled connection is the role, or nothing runs on it
            from sqlalchemy import event

            from airflow_plugin.jit import check_session

            event.listen(engine, "connect", lambda dbapi_connection, record: check_session(governance, self, dbapi_connection))
        govern_engine(engine, self)
        return engine

    return get_sqlalchemy_engine


def govern_engine(engine, hook) -> None:
    """Every statement SQLAlchemy sends on ``engine`` goes through the governor (its DBAPI execute
    happens inside the governor's ``run``), whatever built it: pandas, the inspector, user code."""
    from sqlalchemy import event

    if getattr(engine, MARK, False):
        return
    dialect = engine.dialect
    paramstyle = dialect.paramstyle
    initialize = dialect.initialize

    def initialize_raw(connection):
        # SQLAlchemy's own first-connect probes (server version, standard_conforming_strings,
        # current_schema): the dialect's session setup, not the task's statements
        with scope(DIALECT_SETUP):
            return initialize(connection)

    dialect.initialize = initialize_raw

    def execute(cursor, statement, parameters, many: bool = False):
        if GOVERNED.get() or DIALECT_SETUP.get():
            return None
        governance = _governance()
        if governance is None:
            return None
        escape = parameters is not None and paramstyle in ("format", "pyformat")

        def run(final_sql: str):
            if escape:
                final_sql = escape_for_format_params(final_sql)
            if many:
                return cursor.executemany(final_sql, parameters)
            return cursor.execute(final_sql) if parameters is None else cursor.execute(final_sql, parameters)

        with scope(GOVERNED):
            governance.govern(hook, statement, run, rowcount=lambda _: _rowcount(cursor))
        return True  # executed: SQLAlchemy must not run it again

    event.listen(engine, "do_execute", lambda cursor, statement, parameters, context: execute(cursor, statement, parameters))
    event.listen(engine, "do_execute_no_params", lambda cursor, statement, context: execute(cursor, statement, None))
    event.listen(engine, "do_executemany", lambda cursor, statement, parameters, context: execute(cursor, statement, parameters, True))
    setattr(engine, MARK, True)


def _wrap_get_conn(original: Callable) -> Callable:
    @functools.wraps(original)
    def get_conn(self, *args, **kwargs):
        if RAW.get() or PROVIDER_METADATA.get():
            return original(self, *args, **kwargs)
        governance = _governance()
        if governance is None:
            return original(self, *args, **kwargs)
        with scope(RAW):
            connection = original(self, *args, **kwargs)
        return wrap_connection(governance, self, connection)

    return get_conn


def _wrap_create_connection(original: Callable) -> Callable:
    @functools.wraps(original)
    def _create_connection(self, conn_args, *args, **kwargs):
        governance = _governance()
        if governance is not None:
            from lineage.identity.comment import application_name

            from airflow_plugin.jit import credentials

            conn_args = {**conn_args, "application_name": application_name(governance.identity)}
            role = None
            if not PROVIDER_METADATA.get() and not STANDING_CREDENTIALS.get():
                role = credentials(governance, self)
                if role is not None:
                    conn_args["user"], conn_args["password"] = role
            connection = original(self, conn_args, *args, **kwargs)
            if role is not None:
                from airflow_plugin.jit import check_session

                check_session(governance, self, connection)
            return connection
        return original(self, conn_args, *args, **kwargs)

    return _create_connection


def _wrap_provider_call(original: Callable) -> Callable:
    @functools.wraps(original)
    def call(*args, **kwargs):
        with scope(PROVIDER_METADATA):
            return original(*args, **kwargs)

    return call




def _rowcount(cursor) -> int | None:
    count = getattr(cursor, "rowcount", None)
    return count if isinstance(count, int) and count >= 0 else None


METHODS: dict[str, Callable[[Callable], Callable]] = {
    "run": _wrap_run,
    "_run_command": _wrap_run_command,
    "get_sqlalchemy_engine": _wrap_get_sqlalchemy_engine,
    "get_conn": _wrap_get_conn,
    "_create_connection": _wrap_create_connection,
    "get_openlineage_default_schema": _wrap_provider_call,
    "get_openlineage_database_specific_lineage": _wrap_provider_call,
}


def wrap_connection(governance, hook, connection):
    """A raw connection from ``hook.get_conn()`` in user code: every execute governed (lineage.adapters.dbapi)."""
    from airflow_plugin.rawconn import governed_connection

    return governed_connection(governance, hook, connection)


# -- installing ----------------------------------------------------------------------------------


def patch_class(cls: type) -> None:
    """Wrap the patched methods each DbApiHook class of ``cls``'s MRO defines itself (once per class)."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    for klass in cls.__mro__:
        if not issubclass(klass, DbApiHook) or klass.__dict__.get(MARK):
            continue
        for name, wrapper in METHODS.items():
            method = klass.__dict__.get(name)
            if method is None or getattr(method, MARK, False) or not callable(method):
                continue
            wrapped = wrapper(method)
            setattr(wrapped, MARK, True)
            setattr(klass, name, wrapped)
        setattr(klass, MARK, True)


def install() -> bool:
    """Patch DbApiHook (and the OpenLineage provider's lookups) in this process; idempotent."""
    global _installed
    with _install_lock:
        if _installed:
            return True
        try:
            from airflow.providers.common.sql.hooks.sql import DbApiHook
        except ImportError:
            log.warning("lineage-governance: apache-airflow-providers-common-sql is not installed; no SQL to govern")
            return False
        original_init = DbApiHook.__init__

        @functools.wraps(original_init)
        def __init__(self, *args, **kwargs):
            cls = type(self)
            if not cls.__dict__.get(MARK):
                patch_class(cls)
                _patch_hook_lineage()  # hook modules imported since install()
            original_init(self, *args, **kwargs)

        setattr(__init__, MARK, True)
        if not getattr(original_init, MARK, False):
            DbApiHook.__init__ = __init__
        pending = [DbApiHook]
        while pending:
            cls = pending.pop()
            patch_class(cls)
            pending.extend(cls.__subclasses__())
        _patch_provider()
        _patch_hook_lineage()
        _installed = True
        return True


def _wrap_send_sql_hook_lineage(original: Callable) -> Callable:
    """common-sql reports each statement to Airflow's hook lineage collector, from which the
    OpenLineage provider makes per-query child runs (``{dag}.{task}.query.{n}``) for tasks without
    an extractor. In a governed task with events on, each statement already is such a run (ours,
    with the decision, the masked SQL and column lineage): one run per statement, not two."""

    @functools.wraps(original)
    def send_sql_hook_lineage(*args, **kwargs):
        from airflow_plugin.failures import GovernanceConfigError
        from airflow_plugin.runtime import current

        if PROVIDER_METADATA.get():
            # the provider's own lookups (CURRENT_SCHEMA, information_schema), possibly in its
            # listener thread after the task ended: never a task's lineage (nor the next task's)
            return None
        try:
            governance = current()
        except GovernanceConfigError:
            governance = None
        if governance is not None and governance.runtime.emitter is not None:
            return None
        return original(*args, **kwargs)

    return send_sql_hook_lineage


def _patch_hook_lineage() -> None:
    import sys

    for name in ("airflow.providers.common.sql.hooks.sql", "airflow.providers.postgres.hooks.postgres"):
        module = sys.modules.get(name)
        function = getattr(module, "send_sql_hook_lineage", None) if module is not None else None
        if function is not None and not getattr(function, MARK, False):
            wrapped = _wrap_send_sql_hook_lineage(function)
            setattr(wrapped, MARK, True)
            module.send_sql_hook_lineage = wrapped


def _patch_provider() -> None:
    try:
        from airflow.providers.openlineage import sqlparser
        from airflow.providers.openlineage.utils import sql as ol_sql
    except ImportError:
        return
    for module in (ol_sql, sqlparser):
        function = getattr(module, "get_table_schemas", None)
        if function is not None and not getattr(function, MARK, False):
            wrapped = _wrap_provider_call(function)
            setattr(wrapped, MARK, True)
            module.get_table_schemas = wrapped
