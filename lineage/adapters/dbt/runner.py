"""``lineage dbt <command> [dbt args]``: dbt in-process through dbtRunner, governed.

    lineage dbt --policy policy.yaml build --select marts+
      1. dbt parses and selects as always; before it touches the warehouse (schemas, on-run-start
         hooks, nodes), every node that will run, and its ancestors, is compiled with the macros
         in analysis mode, the live catalog is read through dbt's own connection, and the
         governance sidecar puts everything through the engine (``lineage.adapters.dbt.preflight``).
         block -> exit 1 before anything ran; require_approval -> exit 3 with request ids (or
         ``--wait``); otherwise the macros get this run's plan (masks, keys, approvals).
      2. dbt runs. Every statement it sends (``SQLQuery`` / ``SQLQueryStatus`` events) goes into
         the ledger with the run identity; each node gets OpenLineage START and COMPLETE/FAIL
         events under the invocation's run, itself under the Airflow task when
         OPENLINEAGE_PARENT_ID / OPENLINEAGE_ROOT_PARENT_ID / OPENLINEAGE_CONTEXT say so.
      3. exit 0 when dbt succeeded, 1 when it failed or the pre-flight blocked, 2 for bad input,
         3 when approval is needed.

How it hooks in: dbtRunner callbacks receive dbt's events (statements, nodes); the pre-flight
runs in ``GraphRunnableTask.execute_with_hooks``, wrapped for the length of the invocation,
the one point where dbt has selected the nodes and registered the adapter but has not yet
created a schema or run a hook. The judging and recording happen in a sidecar process
(``lineage.adapters.dbt.sidecar``), which this module starts before importing dbt, so the two load
and work side by side. This module imports nothing heavy at module level.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from lineage.adapters.dbt.manifest import (
    column_meta,
    contract_enforced,
    depends_on,
    exposures,
    get,
    materialization,
    relation_name,
    topological,
)
from lineage.adapters.dbt.node import Node
from lineage.adapters.dbt.sidecar import EXIT_BLOCKED, EXIT_OK, Config

PREFLIGHT_COMMANDS = frozenset({"build", "run", "seed", "snapshot", "test", "retry", "show"})
DIALECTS = {"postgres": "postgres", "redshift": "redshift", "duckdb": "duckdb", "snowflake": "snowflake", "bigquery": "bigquery",
            "databricks": "databricks", "spark": "spark", "trino": "trino", "clickhouse": "clickhouse"}
ANALYSED = ("model", "seed", "snapshot", "test", "sql_operation")
GOVERNED_LOG = "lineage_governance:governed "
PLAN_VAR = "LINEAGE_DBT_PLAN"
ANALYSIS_PLAN = json.dumps({"mode": "analysis"})
SIDECAR_MAIN = "import sys; from lineage.adapters.dbt.sidecar import serve; serve(int(sys.argv[1]))"
# our own hooks, which render nothing while the pre-flight analyses (rendering them costs a context)
OWN_HOOKS = frozenset({"{{ lineage_governance.guard_schema_change() }}"})


class PreflightStopped(Exception):
    """The pre-flight refused the run (block, approval needed, or no sidecar to judge it)."""

    def __init__(self, message: str, exit_code: int, requests: list[str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.requests = requests or []


_DbtPreflightStopped: type | None = None


def _stop(message: str, exit_code: int, requests: list[str] | None = None) -> Exception:
    """A PreflightStopped that dbt treats as its own error: one line on the console, no traceback."""
    from dbt_common.exceptions import DbtBaseException

    global _DbtPreflightStopped
    if _DbtPreflightStopped is None:
        _DbtPreflightStopped = type("PreflightStopped", (PreflightStopped, DbtBaseException), {})
    return _DbtPreflightStopped(message, exit_code, requests)


@dataclass
class Options:
    policy: str | None = None  # path; default $LINEAGE_POLICY, else the built-in defaults
    principal: str | None = None
    groups: tuple[str, ...] | None = None
    environment: str | None = None
    catalog: str | None = None  # extra catalog JSON (sqlglot's nested mapping)
    wait: bool = False
    wait_timeout: float | None = None  # seconds; default: the policy's approval ttl
    poll_seconds: float = 2.0
    approval_ids: tuple[str, ...] = ()
    ledger: str | None = None  # default $LINEAGE_LEDGER_URL, else .lineage/ledger.db
    approvals: str | None = None  # default $LINEAGE_APPROVALS_URL, else next to the ledger
    events_file: str | None = None  # JSONL, besides what the environment configures
    report_json: str | None = None  # write the pre-flight report here
    env: dict[str, str] | None = None


@dataclass
class DbtRunResult:
    """What one `lineage dbt` invocation ended with (its exit code, the pre-flight report, approval requests, ...)."""

    exit_code: int
    identity: dict
    report: dict | None = None  # the pre-flight report (``lineage.adapters.dbt.sidecar.report_json``)
    requests: list[str] = field(default_factory=list)
    message: str = ""
    invocation_id: str | None = None
    node_runs: dict[str, str] = field(default_factory=dict)  # node id -> its OpenLineage run id
    dbt_success: bool | None = None
    plan: dict | None = None
    warnings: list[str] = field(default_factory=list)


class Sidecar:
    """The dbt side of the pipe to the governance sidecar (``lineage.adapters.dbt.sidecar.serve``).

    A fresh interpreter rather than a fork (the caller may have threads) and rather than
    multiprocessing's spawn (which re-imports the caller's ``__main__``); the two ends talk
    through a socket pair wrapped in ``multiprocessing.connection.Connection``.
    """

    def __init__(self, config: Config):
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        import lineage

        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        package_root = str(Path(lineage.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(part for part in (package_root, env.get("PYTHONPATH")) if part)
        self.process = subprocess.Popen(
            [sys.executable, "-c", SIDECAR_MAIN, str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.lock = threading.Lock()
        self.dead: str | None = None
        self.send(("config", config))

    def send(self, message: tuple) -> None:
        """Fire and forget; a dead sidecar stops dbt (fail closed: nothing runs unrecorded)."""
        if self.dead is not None:
            raise _stop(self.dead, EXIT_BLOCKED)
        try:
            with self.lock:
                self.conn.send(message)
        except (OSError, EOFError, BrokenPipeError):
            self.dead = "lineage-governance: the governance sidecar is gone; stopping (nothing runs unrecorded)"
            raise _stop(self.dead, EXIT_BLOCKED) from None

    def receive(self, kind: str, say: Callable[[str], None] | None = None):
        while True:
            try:
                message = self.conn.recv()
            except (OSError, EOFError):
                self.dead = "lineage-governance: the governance sidecar is gone"
                raise PreflightStopped(self.dead, EXIT_BLOCKED) from None
            if message[0] == "print":
                if say is not None:
                    say(message[1])
                continue
            if message[0] == "error":
                raise PreflightStopped(message[2], message[1])
            if message[0] == kind:
                return message[1]

    def request(self, message: tuple, kind: str, say: Callable[[str], None] | None = None):
        self.send(message)
        return self.receive(kind, say)

    def close(self) -> None:
        """After ``closed`` everything is written; the sidecar's interpreter shuts down on its own."""
        self.conn.close()
        if self.dead is not None and self.process.poll() is None:
            self.process.kill()


class DbtRun:
    """One governed dbt invocation (the dbt side)."""

    def __init__(self, options: Options, out: TextIO | None = None, err: TextIO | None = None):
        self.options = options
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.sidecar: Sidecar | None = None
        self.invocation_id: str | None = None
        self._compiling: str | None = None
        self._governed: dict[str, list[str]] = {}
        self.catalog_queries: dict[str, str] = {}

    def invoke(self, args: list[str]) -> DbtRunResult:
        command = next((arg for arg in args if not arg.startswith("-")), None)
        project = _project_name(_project_dir(args, self.options.env))
        options = self.options
        config = Config(
            project=project, command=command, policy=options.policy, principal=options.principal, groups=options.groups,
            environment=options.environment, catalog=options.catalog, wait=options.wait, wait_timeout=options.wait_timeout,
            poll_seconds=options.poll_seconds, approval_ids=options.approval_ids, ledger=options.ledger,
            approvals=options.approvals, events_file=options.events_file, report_json=options.report_json, env=options.env,
        )
        self.sidecar = Sidecar(config)
        try:
            return self._invoke(args, command)
        finally:
            self.sidecar.close()

    def _invoke(self, args: list[str], command: str | None) -> DbtRunResult:
        from dbt.cli.main import dbtRunner  # meanwhile the sidecar loads the policy, sqlglot, openlineage

        try:
            hello = self.sidecar.receive("ready")
        except PreflightStopped as stop:
            return DbtRunResult(stop.exit_code, {}, message=str(stop))
        self.catalog_queries = hello["catalog_queries"]
        exported = dict(hello["env"])
        exported[PLAN_VAR] = ""  # no plan until the pre-flight makes one: the macros fail closed
        if not os.environ.get("LINEAGE_DBT_MACROS"):
            # for packages.yml's `local: "{{ env_var('LINEAGE_DBT_MACROS') }}"` (then `lineage dbt deps` finds it)
            from lineage.adapters.dbt import macros_path

            exported["LINEAGE_DBT_MACROS"] = str(macros_path())
        hook = _preflight_hook(self._preflight) if command in PREFLIGHT_COMMANDS else contextlib.nullcontext()
        cwd = os.getcwd()
        with scoped_environ(exported), hook, session_name(hello["application_name"]):
            try:
                result = dbtRunner(callbacks=[self._on_event]).invoke(list(args))
            finally:
                os.chdir(cwd)  # dbt moves to the project directory
                release_duckdb()
        outcome = DbtRunResult(EXIT_OK, hello["identity"], invocation_id=self.invocation_id, dbt_success=bool(result.success))
        stopped = result.exception if isinstance(result.exception, PreflightStopped) else None
        if stopped is not None:
            outcome.exit_code, outcome.message, outcome.requests = stopped.exit_code, str(stopped), stopped.requests
        elif result.exception is not None and not result.success:
            outcome.exit_code, outcome.message = EXIT_BLOCKED, f"dbt: {result.exception}"
        elif not result.success:
            outcome.exit_code, outcome.message = EXIT_BLOCKED, "dbt reported failures"
        if self.sidecar.dead is None:
            try:
                closed = self.sidecar.request(("done", outcome.exit_code, outcome.message), "closed")
            except PreflightStopped as stop:
                outcome.exit_code = outcome.exit_code or EXIT_BLOCKED
                outcome.message = f"{outcome.message + '; ' if outcome.message else ''}{stop} (the ledger and events may miss the end of the run)"
                return outcome
            outcome.report, outcome.node_runs, outcome.plan = closed["report"], closed["node_runs"], closed["plan"]
            outcome.requests = outcome.requests or closed["requests"]
            outcome.warnings = closed["warnings"]
            for warning in closed["warnings"]:
                print(warning, file=self.err)
        return outcome

    # -- the pre-flight (inside dbt, before it touches the warehouse) ------------------------------

    def _preflight(self, task, selected_uids) -> None:
        from dbt.adapters.factory import get_adapter
        from dbt_common.context import get_invocation_context

        from lineage.adapters.dbt.warehouse import artifact_tables, manifest_tables

        started = time.perf_counter()
        manifest, config = task.manifest, task.config
        adapter = get_adapter(config)
        dialect = DIALECTS.get(adapter.type(), adapter.type())
        selected = set(selected_uids)
        # ancestors for their lineage, descendants so a schema change names who uses the column
        wanted = selected | set(task.graph.select_parents(selected)) | set(task.graph.select_children(selected))
        nodes_by_id = {uid: node for uid, node in manifest.nodes.items() if _resource(node) in ANALYSED}
        order = topological([uid for uid in wanted if uid in nodes_by_id], {uid: depends_on(node) for uid, node in manifest.nodes.items()})
        relations = {uid: relation_name(node) for uid, node in [*manifest.sources.items(), *manifest.nodes.items()]}
        relations = {uid: name for uid, name in relations.items() if name}
        schemas = sorted({tuple(name.split(".")[:2]) for uid, name in relations.items()
                          if name.count(".") == 2 and (uid in wanted or uid.startswith("source."))})
        credentials = config.credentials
        self.sidecar.send(("begin", {
            "dialect": dialect,
            "where": _where(credentials, dialect),
            "database": getattr(credentials, "database", None),
            "schema": getattr(credentials, "schema", None),
            # declared columns describe what a model will be, not what is there: sources only
            "layers": [artifact_tables(Path(config.project_root) / config.target_path), manifest_tables(manifest.sources.values())],
            "meta": column_meta([*manifest.sources.values(), *manifest.nodes.values()]),
            "relations": relations,
            "exposures": exposures(manifest),
            "contracts": [uid for uid, node in manifest.nodes.items() if contract_enforced(node)],
        }))
        env = get_invocation_context().env
        full_refresh = bool(getattr(task.args, "FULL_REFRESH", False))
        try:
            with adapter.connection_named("lineage_preflight"):
                # first what the warehouse holds; then each node as it compiles, analysed by the
                # sidecar while the next one compiles
                self._send_catalog(adapter, self.catalog_queries.get(dialect), schemas)
                env[PLAN_VAR] = ANALYSIS_PLAN
                self._compile(task, order, nodes_by_id, selected, relations, full_refresh)
                hooks = self._compile_hooks(task) if hasattr(task, "get_hooks_by_type") else []
        finally:
            env[PLAN_VAR] = ""
        say = lambda text: print(text, file=self.out)  # noqa: E731
        verdict = self.sidecar.request(("end", hooks, time.perf_counter() - started), "verdict", say)
        if verdict["exit_code"] is not None:
            raise _stop(verdict["message"], verdict["exit_code"], verdict["requests"])
        env[PLAN_VAR] = verdict["plan"]

    def _send_catalog(self, adapter, query: str | None, schemas) -> None:
        """The live columns (PostgreSQL, DuckDB); a warehouse that cannot say what it holds cannot
        be checked for schema changes, so the pre-flight then refuses (fail closed)."""
        message: tuple = ("catalog", [])
        if query:
            try:
                message = ("catalog", _only(self._live_columns(adapter, query), schemas))
            except Exception as error:
                message = ("catalog_failed", f"cannot read the warehouse's information_schema: {error}")
        self.sidecar.send(message)

    def _live_columns(self, adapter, query: str) -> list[tuple]:
        from lineage.adapters.dbt.warehouse import live_columns

        return live_columns(adapter, query)

    def _compile(self, task, order, nodes_by_id, selected, relations, full_refresh) -> None:
        """Every analysed node compiled in analysis mode and handed to the sidecar at once (it
        analyses one while dbt compiles the next); the manifest is left as it was."""
        from lineage.adapters.dbt.sidecar import PROGRESS_FROM, Progress

        manifest = task.manifest
        saved = _save_compiled(manifest)
        errors: list[str] = []
        progress = Progress(lambda text: print(text, file=self.err), "compiled") if len(order) >= PROGRESS_FROM else None
        try:
            for done, uid in enumerate(order, 1):
                node = nodes_by_id[uid]
                kind = _resource(node)
                if progress is not None:
                    progress(done, len(order))
                sql = None
                if kind != "seed":
                    self._compiling = uid
                    self._governed.setdefault(uid, [])
                    try:
                        sql = task.compiler.compile_node(node, manifest, {}, write=False).compiled_code or ""
                    except Exception as error:
                        text = str(error).strip()
                        errors.append(f"{uid}: {text.splitlines()[0] if text else type(error).__name__}")
                        continue
                    finally:
                        self._compiling = None
                self.sidecar.send(("node", Node(
                    uid, kind, sql=sql, relation=relations.get(uid), materialized=materialization(node), selected=uid in selected,
                    governed=tuple(self._governed.get(uid, ())), columns=_seed_columns(node) if kind == "seed" else (),
                    full_refresh=full_refresh,
                )))
                if uid in selected and kind in ("model", "snapshot", "seed"):
                    for hook in self._model_hooks(task, node, errors):
                        self.sidecar.send(("node", hook))
        finally:
            _restore_compiled(manifest, saved)
        if errors:
            raise _stop("lineage-governance pre-flight: cannot compile " + "; ".join(errors) + " (nothing ran)", EXIT_BLOCKED)

    def _model_hooks(self, task, node, errors: list[str]) -> list[Node]:
        """A model's pre- and post-hooks rendered as its materialization will, in analysis mode
        (a `grant ... to public` post-hook is judged like any statement)."""
        config = get(node, "config")
        hooks = [*(get(config, "pre_hook") or []), *(get(config, "post_hook") or [])]
        hooks = [hook for hook in hooks if (get(hook, "sql") or "").strip() not in OWN_HOOKS]
        if not hooks:
            return []
        from dbt.clients.jinja import get_rendered
        from dbt.context.providers import generate_runtime_model_context

        nodes = []
        context = generate_runtime_model_context(node, task.config, task.manifest)
        for number, hook in enumerate(hooks):
            try:
                sql = get_rendered(get(hook, "sql") or "", context, node)
            except Exception as error:
                errors.append(f"{node.unique_id} hook {number}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
                continue
            if sql.strip():
                nodes.append(Node(f"{node.unique_id}.hook.{number}", "operation", sql=sql))
        return nodes

    def _compile_hooks(self, task) -> list[Node]:
        """on-run-start / on-run-end hooks, compiled as dbt will (their results are not known yet)."""
        from dbt.node_types import RunHookType

        nodes = []
        for hook_type in (RunHookType.Start, RunHookType.End):
            for hook in task.get_hooks_by_type(hook_type):
                try:
                    compiled = task.compiler.compile_node(hook, task.manifest, {"schemas": [], "database_schemas": [], "results": []}, write=False)
                except Exception as error:
                    raise _stop(f"lineage-governance pre-flight: cannot compile {hook.unique_id}: {error}", EXIT_BLOCKED) from None
                nodes.append(Node(hook.unique_id, "operation", sql=compiled.compiled_code or ""))
        return nodes

    # -- dbt's events, forwarded to the sidecar -----------------------------------------------------

    def _on_event(self, msg) -> None:
        name = msg.info.name
        if name == "SQLQuery":
            self.sidecar.send(("q", threading.get_ident(), msg.data.node_info.unique_id or None, msg.data.sql))
        elif name == "SQLQueryStatus":
            self.sidecar.send(("s", threading.get_ident(), msg.data.status, msg.data.elapsed))
        elif name == "NodeStart":
            info = msg.data.node_info
            self.sidecar.send(("ns", info.unique_id, info.resource_type))
        elif name == "NodeFinished":
            info = msg.data.node_info
            self.sidecar.send(("nf", info.unique_id, info.resource_type, info.node_status or "", msg.data.run_result.message or None))
        elif name in ("JinjaLogDebug", "JinjaLogInfo"):
            text = msg.data.msg
            if self._compiling is not None and text.startswith(GOVERNED_LOG):
                self._governed.setdefault(self._compiling, []).append(text[len(GOVERNED_LOG):].strip())
        elif name == "MainReportVersion" and self.invocation_id is None:
            self.invocation_id = msg.info.invocation_id
            self.sidecar.send(("invocation", self.invocation_id))


def run_dbt(args: list[str], options: Options, out: TextIO | None = None, err: TextIO | None = None) -> DbtRunResult:
    return DbtRun(options, out, err).invoke(args)


# -- helpers --------------------------------------------------------------------------------------


def release_duckdb() -> None:
    """dbt-duckdb keeps its database open for the life of the process; let others open the file."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    if module is not None:
        module.DuckDBConnectionManager.close_all_connections()


@contextlib.contextmanager
def _preflight_hook(callback: Callable[[Any, Any], None]):
    """Run ``callback(task, selected_uids)`` where dbt is about to execute a graph, for one invocation."""
    from dbt.task.runnable import GraphRunnableTask

    original = GraphRunnableTask.execute_with_hooks

    def execute_with_hooks(task, selected_uids):
        callback(task, selected_uids)
        return original(task, selected_uids)

    GraphRunnableTask.execute_with_hooks = execute_with_hooks
    try:
        yield
    finally:
        GraphRunnableTask.execute_with_hooks = original


@contextlib.contextmanager
def session_name(name: str):
    """PostgreSQL sessions of one invocation named like the core's (``lg:<run id>:<principal>``).

    Set on each connection's credentials as dbt opens it, not in the profile: dbt hashes the
    profile for partial parsing, so a run id there would make every run parse the project anew.
    """
    try:
        from dbt.adapters.postgres.connections import PostgresConnectionManager
    except ImportError:  # no dbt-postgres: nothing to name
        yield
        return
    original = PostgresConnectionManager.__dict__["open"]

    def open_named(cls, connection):
        connection.credentials = connection.credentials.replace(application_name=name)
        return original.__func__(cls, connection)

    PostgresConnectionManager.open = classmethod(open_named)
    try:
        yield
    finally:
        PostgresConnectionManager.open = original


@contextlib.contextmanager
def scoped_environ(values: dict[str, str | None]):
    """``os.environ`` with these values (None: unset) for the block, restored after."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_COMPILED_FIELDS = ("compiled", "compiled_code", "extra_ctes_injected", "extra_ctes", "_pre_injected_sql", "compiled_path", "relation_name")


def _save_compiled(manifest) -> dict[str, dict[str, Any]]:
    saved = {}
    for uid, node in manifest.nodes.items():
        values = {}
        for name in _COMPILED_FIELDS:
            if hasattr(node, name):
                value = getattr(node, name)
                values[name] = list(value) if isinstance(value, list) else value
        saved[uid] = values
    return saved


def _restore_compiled(manifest, saved) -> None:
    for uid, values in saved.items():
        node = manifest.nodes.get(uid)
        if node is None:
            continue
        for name, value in values.items():
            with contextlib.suppress(Exception):
                setattr(node, name, value)


def _only(rows: list[tuple], schemas) -> list[tuple]:
    """The columns (rows of ``warehouse.columns_query``) of the schemas the run reads or writes."""
    wanted = {(database.lower(), schema.lower()) for database, schema in schemas}
    return [row for row in rows if (str(row[0]).lower(), str(row[1]).lower()) in wanted]


def _resource(node) -> str:
    kind = get(node, "resource_type")
    return str(getattr(kind, "value", kind))


def _seed_columns(node) -> tuple[str, ...]:
    root = get(node, "root_path")
    path = get(node, "original_file_path")
    if not root or not path:
        return ()
    try:
        with open(Path(root) / path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except OSError:
        return ()
    return tuple(column.strip() for column in header if column.strip())


def _project_dir(args: list[str], env: dict[str, str] | None) -> Path:
    for index, arg in enumerate(args):
        if arg == "--project-dir" and index + 1 < len(args):
            return Path(args[index + 1])
        if arg.startswith("--project-dir="):
            return Path(arg.split("=", 1)[1])
    value = (env if env is not None else os.environ).get("DBT_PROJECT_DIR")
    return Path(value) if value else Path.cwd()


def _project_name(project_dir: Path) -> str:
    path = project_dir / "dbt_project.yml"
    try:
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return str(data.get("name") or project_dir.resolve().name)
    except (OSError, ValueError, AttributeError):
        return project_dir.resolve().name


def _where(credentials, dialect: str) -> dict:
    """Where the warehouse is, for dataset namespaces (the sidecar applies OpenLineage's naming)."""
    return {"dialect": dialect, "host": getattr(credentials, "host", None), "port": getattr(credentials, "port", None),
            "path": getattr(credentials, "path", None), "database": getattr(credentials, "database", None)}
