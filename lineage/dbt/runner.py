"""``lineage dbt <command> [dbt args]``: dbt in-process through dbtRunner, governed.

    lineage dbt --policy policy.yaml build --select marts+
      1. dbt parses and selects as always; before it touches the warehouse (schemas, on-run-start
         hooks, nodes), the pre-flight compiles every node that will run, and its ancestors, with
         the macros in analysis mode, reads the live catalog through dbt's own connection, and
         puts everything through the engine (``lineage.dbt.preflight``).
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
created a schema or run a hook. The wrapper is removed when the invocation returns.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, TextIO

from lineage.dbt.identity import comment_environment, dbt_identity, dbt_job_name, node_identity
from lineage.dbt.manifest import (
    contract_enforced,
    depends_on,
    exposures,
    get,
    materialization,
    meta_classifications,
    relation_name,
    topological,
)
from lineage.dbt.plan import ENV_VAR, PlanError, analysis_plan, macro_plan
from lineage.dbt.preflight import Node, Preflight, Report
from lineage.identity import RunIdentity
from lineage.model import Action
from lineage.policy import LoadedPolicy

PREFLIGHT_COMMANDS = frozenset({"build", "run", "seed", "snapshot", "test", "retry"})
DIALECTS = {"postgres": "postgres", "redshift": "redshift", "duckdb": "duckdb", "snowflake": "snowflake", "bigquery": "bigquery",
            "databricks": "databricks", "spark": "spark", "trino": "trino", "clickhouse": "clickhouse"}
ANALYSED = ("model", "seed", "snapshot", "test")
GOVERNED_LOG = "lineage_governance:governed "
PROGRESS_FROM = 50  # nodes; smaller projects print no progress
EXIT_OK, EXIT_BLOCKED, EXIT_BAD_INPUT, EXIT_APPROVAL = 0, 1, 2, 3


class PreflightStopped(Exception):
    """The pre-flight refused the run (block, or approval needed and not waiting)."""

    def __init__(self, message: str, exit_code: int, requests: list[str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.requests = requests or []


def _stop(message: str, exit_code: int, requests: list[str] | None = None) -> Exception:
    """A PreflightStopped dbt treats as its own error: one line on the console, no traceback."""
    from dbt_common.exceptions import DbtBaseException

    global _DbtPreflightStopped
    if _DbtPreflightStopped is None:
        _DbtPreflightStopped = type("PreflightStopped", (PreflightStopped, DbtBaseException), {})
    return _DbtPreflightStopped(message, exit_code, requests)


_DbtPreflightStopped: type | None = None


@dataclass
class Options:
    policy: LoadedPolicy
    principal: str | None = None
    groups: tuple[str, ...] | None = None
    environment: str | None = None
    catalog: str | None = None  # extra catalog JSON (sqlglot's nested mapping)
    wait: bool = False
    wait_timeout: float | None = None  # seconds; default: the policy's approval ttl
    poll_seconds: float = 2.0
    approval_ids: tuple[str, ...] = ()
    ledger: Any = None  # a Ledger, a URL, or None for $LINEAGE_LEDGER_URL / .lineage/ledger.db
    approvals: Any = None  # an Approvals, or None for the store next to the ledger
    emitter: Any = None  # an EventEmitter, or None for lineage.events.emit.emitter_from_environment()
    report_json: str | None = None  # write the pre-flight report here
    env: dict[str, str] | None = None


@dataclass
class Outcome:
    exit_code: int
    identity: RunIdentity
    report: Report | None = None
    requests: list[str] = field(default_factory=list)
    message: str = ""
    invocation_id: str | None = None
    node_runs: dict[str, str] = field(default_factory=dict)  # node id -> its OpenLineage run id
    dbt_success: bool | None = None
    plan: dict | None = None


class DbtRun:
    """One governed dbt invocation."""

    def __init__(self, options: Options, out: TextIO | None = None, err: TextIO | None = None):
        self.options = options
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.policy = options.policy
        self.identity: RunIdentity | None = None
        self.report: Report | None = None
        self.engine = None
        self.plan: dict | None = None
        self.approved: dict[str, str] = {}
        self.requests: list[str] = []
        self.invocation_id: str | None = None
        self.where = None
        self.node_runs: dict[str, RunIdentity] = {}
        self._compiling: str | None = None
        self._governed: dict[str, list[str]] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._node_identities: dict[str, RunIdentity] = {}
        self._ledger = None
        self._events = None
        self._started_invocation = False
        self._context = None
        self.project: str | None = None

    # -- entry --------------------------------------------------------------------------------

    def invoke(self, args: list[str]) -> Outcome:
        command = next((arg for arg in args if not arg.startswith("-")), None)
        project_dir = _project_dir(args, self.options.env)
        project = self.project = _project_name(project_dir)
        env = dict(os.environ if self.options.env is None else self.options.env)
        self.identity = dbt_identity(project, command, env=env, principal=self.options.principal,
                                     groups=self.options.groups, environment=self.options.environment)
        self._ledger = self._open_ledger()
        self._events = self._open_events()
        exported = comment_environment(self.identity, self.policy.version)
        exported[ENV_VAR] = ""  # no plan until the pre-flight makes one: the macros fail closed
        hook = _preflight_hook(self._preflight) if command in PREFLIGHT_COMMANDS else contextlib.nullcontext()
        cwd = os.getcwd()
        outcome = Outcome(EXIT_OK, self.identity)
        from dbt.cli.main import dbtRunner

        with _environment(exported), hook, _quiet_sqlglot():
            try:
                result = dbtRunner(callbacks=[self._on_event]).invoke(list(args))
            finally:
                os.chdir(cwd)  # dbt moves to the project directory
        stopped = result.exception if isinstance(result.exception, PreflightStopped) else None
        outcome.report, outcome.plan, outcome.invocation_id = self.report, self.plan, self.invocation_id
        outcome.node_runs = {node_id: identity.run_id for node_id, identity in self.node_runs.items()}
        outcome.requests = list(self.requests)
        outcome.dbt_success = bool(result.success)
        if stopped is not None:
            outcome.exit_code, outcome.message = stopped.exit_code, str(stopped)
        elif result.exception is not None and not result.success:
            outcome.exit_code, outcome.message = EXIT_BLOCKED, f"dbt: {result.exception}"
        elif not result.success:
            outcome.exit_code, outcome.message = EXIT_BLOCKED, "dbt reported failures"
        self._finish_pending("dbt ended without reporting this statement's status")
        self._invocation_event(outcome)
        self._close()
        return outcome

    # -- the pre-flight -----------------------------------------------------------------------

    def _preflight(self, task, selected_uids) -> None:
        from dbt.adapters.factory import get_adapter
        from dbt_common.context import get_invocation_context

        started = time.perf_counter()
        manifest, config = task.manifest, task.config
        adapter = get_adapter(config)
        dialect = DIALECTS.get(adapter.type(), adapter.type())
        self.where = _where(config, dialect)
        selected = set(selected_uids)
        wanted = selected | set(task.graph.select_parents(selected))
        nodes_by_id = {uid: node for uid, node in manifest.nodes.items() if _resource(node) in ANALYSED or _resource(node) == "operation"}
        order = topological([uid for uid in wanted if uid in nodes_by_id and _resource(nodes_by_id[uid]) in ANALYSED],
                            {uid: depends_on(node) for uid, node in manifest.nodes.items()})
        relations = {uid: relation_name(node) for uid, node in [*manifest.sources.items(), *manifest.nodes.items()]}
        relations = {uid: name for uid, name in relations.items() if name}
        schemas = {tuple(name.split(".")[:2]) for uid, name in relations.items() if name.count(".") == 2 and (uid in wanted or uid.startswith("source."))}
        env = get_invocation_context().env
        env[ENV_VAR] = analysis_plan()
        full_refresh = bool(getattr(task.args, "FULL_REFRESH", False) or getattr(task.args, "full_refresh", False))
        with adapter.connection_named("lineage_preflight"):
            live = self._live_tables(adapter, dialect, schemas)
            compiled = self._compile(task, order, nodes_by_id, selected)
            hooks = self._compile_hooks(task) if hasattr(task, "get_hooks_by_type") else []
        catalog = self._catalog(dialect, config, live, manifest)
        from lineage.engine import Engine

        extra = meta_classifications([*manifest.sources.values(), *manifest.nodes.values()])
        self.engine = Engine(self.policy, catalog, dialect, extra_classifications=extra, masker=None)
        nodes = []
        for uid in order:
            node = nodes_by_id[uid]
            kind = _resource(node)
            nodes.append(Node(
                uid, kind, sql=compiled.get(uid), relation=relations.get(uid), materialized=materialization(node),
                selected=uid in selected, governed=tuple(self._governed.get(uid, ())),
                columns=_seed_columns(node) if kind == "seed" else (), full_refresh=full_refresh,
            ))
        nodes.extend(hooks)
        progress = _Progress(self.err) if len(nodes) >= PROGRESS_FROM else None
        preflight = Preflight(
            self.engine, self.identity, relations, exposures(manifest),
            contracts=[uid for uid, node in manifest.nodes.items() if contract_enforced(node)],
            progress=progress,
        )
        report = self.report = preflight.run(nodes)
        if progress is not None:
            progress.done()
        self._record_preflight(report)
        self._print_report(report, time.perf_counter() - started)
        if self.options.report_json:
            Path(self.options.report_json).write_text(json.dumps(report_json(report), indent=2, default=str))
        if report.blocked:
            raise _stop(f"lineage-governance pre-flight blocked {_count_nodes(report, Action.BLOCK)}; nothing ran", EXIT_BLOCKED)
        if report.needs_approval:
            self._approvals_or_stop(report)
        columns = {relation.lower(): list(catalog.columns(relation) or {}) for relation in report.masks}
        try:
            self.plan = macro_plan(report, preflight.planner, dialect, self.approved, columns)
        except PlanError as error:
            raise _stop(f"lineage-governance pre-flight: {error}", EXIT_BLOCKED) from None
        env[ENV_VAR] = json.dumps(self.plan)

    def _live_tables(self, adapter, dialect, schemas) -> dict:
        from lineage.dbt.warehouse import live_tables

        try:
            return live_tables(adapter, dialect, schemas)
        except Exception as error:  # a warehouse that cannot answer leaves catalog.json and the manifest
            print(f"lineage dbt: cannot read the warehouse catalog ({error}); using catalog.json and the manifest", file=self.err)
            return {}

    def _catalog(self, dialect, config, live, manifest):
        from lineage.catalog import Catalog, CatalogError
        from lineage.dbt.warehouse import artifact_tables, manifest_tables, merged_catalog

        layers = [live]
        if self.options.catalog:
            try:
                extra = Catalog.from_json_file(self.options.catalog, dialect=dialect)
            except CatalogError as error:
                raise _stop(f"lineage dbt: {error}", EXIT_BAD_INPUT) from None
            layers.append(extra.tables)
        layers.append(artifact_tables(Path(config.project_root) / config.target_path))
        # declared columns describe what a model will be, not what is there: sources only
        layers.append(manifest_tables(manifest.sources.values()))
        credentials = config.credentials
        return merged_catalog(dialect, getattr(credentials, "database", None), getattr(credentials, "schema", None), *layers)

    def _compile(self, task, order, nodes_by_id, selected) -> dict[str, str]:
        """Every analysed node compiled in analysis mode; the manifest is left as it was."""
        manifest = task.manifest
        saved = _save_compiled(manifest)
        compiled: dict[str, str] = {}
        errors: list[str] = []
        try:
            for uid in order:
                node = nodes_by_id[uid]
                if _resource(node) == "seed":
                    continue
                self._compiling = uid
                self._governed.setdefault(uid, [])
                try:
                    result = task.compiler.compile_node(node, manifest, {}, write=False)
                except Exception as error:
                    errors.append(f"{uid}: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
                    continue
                compiled[uid] = result.compiled_code or ""
        finally:
            self._compiling = None
            _restore_compiled(manifest, saved)
        if errors:
            raise _stop("lineage-governance pre-flight: cannot compile " + "; ".join(errors) + " (nothing ran)", EXIT_BLOCKED)
        return compiled

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

    def _approvals_or_stop(self, report: Report) -> None:
        approvals = self._open_approvals()
        presented = set(self.options.approval_ids)
        identity = self.identity.with_(attributes={**self.identity.attributes, "approval_ids": tuple(sorted(presented))}) if presented else self.identity
        pending: dict[str, str] = {}
        for result in report.results:
            if not result.node.selected or result.action != Action.REQUIRE_APPROVAL:
                continue
            decision = report.decision_for(result)
            approval = approvals.approval_for(decision, identity)
            if approval:
                self.approved[result.node.unique_id] = approval
            else:
                pending[result.node.unique_id] = approvals.request(decision, identity)
        if not pending:
            return
        self.requests = sorted(set(pending.values()))
        lines = [f"  {request}  {node}" for node, request in sorted(pending.items())]
        print("lineage-governance: approval required before anything runs:\n" + "\n".join(lines), file=self.out)
        if not self.options.wait:
            print(f"Approve with `lineage approvals approve <id>`, then run again with --approval <id> (or use --wait).", file=self.out)
            raise _stop(f"lineage-governance pre-flight: approval required ({', '.join(self.requests)}); nothing ran", EXIT_APPROVAL, self.requests)
        self._wait(approvals, pending)

    def _wait(self, approvals, pending: dict[str, str]) -> None:
        from lineage.approvals import APPROVED, PENDING

        timeout = self.options.wait_timeout
        if timeout is None:
            timeout = approvals.ttl.total_seconds()
        deadline = time.monotonic() + timeout
        print(f"lineage-governance: waiting up to {timeout:.0f} s for {', '.join(self.requests)}", file=self.out)
        while pending:
            for node, request_id in list(pending.items()):
                request = approvals.status(request_id)
                if request.status == APPROVED:
                    self.approved[node] = request_id
                    del pending[node]
                elif request.status != PENDING:
                    raise _stop(f"lineage-governance: approval request {request_id} for {node} was {request.status}; nothing ran", EXIT_BLOCKED, self.requests)
            if pending:
                if time.monotonic() >= deadline:
                    raise _stop(f"lineage-governance: no decision on {', '.join(sorted(set(pending.values())))} in {timeout:.0f} s; nothing ran", EXIT_APPROVAL, self.requests)
                time.sleep(self.options.poll_seconds)
        print("lineage-governance: approved; running", file=self.out)

    # -- dbt's events -------------------------------------------------------------------------

    def _on_event(self, msg) -> None:
        name = msg.info.name
        if name == "SQLQuery":
            self._statement_started(msg)
        elif name == "SQLQueryStatus":
            self._statement_finished(msg)
        elif name == "NodeStart":
            self._node_started(msg)
        elif name == "NodeFinished":
            self._node_finished(msg)
        elif name in ("JinjaLogDebug", "JinjaLogInfo"):
            text = msg.data.msg
            if self._compiling is not None and text.startswith(GOVERNED_LOG):
                self._governed.setdefault(self._compiling, []).append(text[len(GOVERNED_LOG):].strip())
        elif name == "MainReportVersion" and not self._started_invocation:
            self.invocation_id = msg.info.invocation_id
            self._started_invocation = True
            self._invocation_started()

    def _identity_for(self, node_id: str | None) -> RunIdentity:
        if not node_id:
            return self.identity
        found = self._node_identities.get(node_id)
        if found is None:
            found = self._node_identities[node_id] = node_identity(self.identity, node_id, self.invocation_id)
        return found

    def _statement_started(self, msg) -> None:
        if self._ledger is None:
            return
        node_id = msg.data.node_info.unique_id or None
        sql = msg.data.sql
        self._finish_pending("dbt sent the next statement on this thread before reporting this one's status")
        try:
            decisions = self._decisions(sql)
        except Exception as error:  # never break dbt's statement on our analysis
            print(f"lineage dbt: cannot analyse a statement for the ledger: {error}", file=self.err)
            return
        identity = self._identity_for(node_id)
        approval = self.approved.get(node_id) if node_id else None
        for decision in decisions:
            self._record(identity, decision, "started", approval_id=approval)
        self._local.pending = (identity, decisions, approval, time.perf_counter())

    def _statement_finished(self, msg) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            return
        self._local.pending = None
        identity, decisions, approval, began = pending
        rows = _rows(msg.data.status)
        elapsed = float(getattr(msg.data, "elapsed", 0.0) or (time.perf_counter() - began))
        for decision in decisions:
            self._record(identity, decision, "finished", rows=rows, duration_ms=elapsed * 1000.0, approval_id=approval)

    def _finish_pending(self, error: str) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            return
        self._local.pending = None
        identity, decisions, approval, began = pending
        for decision in decisions:
            self._record(identity, decision, "failed", error=error, duration_ms=(time.perf_counter() - began) * 1000.0, approval_id=approval)

    def _decisions(self, sql: str):
        engine = self.engine
        if engine is None:
            from lineage.engine import Engine

            engine = self.engine = Engine(self.policy, dialect=_dialect_of(self.where), masker=None)
        decisions = engine.check(sql, self.identity)
        out = []
        for decision in decisions:
            findings = tuple(f for f in decision.findings if f.rule not in ("pii_to_unapproved_zone", "masking_refused"))
            if len(findings) != len(decision.findings):
                action = Action.strictest(f.action or Action.ALLOW for f in findings)
                decision = replace(decision, findings=findings, action=action, effective_action=Action.ALLOW if decision.mode == "audit" else action)
            out.append(decision)
        return out

    def _record(self, identity: RunIdentity, decision, phase: str, **details: Any) -> None:
        try:
            with self._lock:
                self._ledger.record_statement(identity, decision, phase, **{k: v for k, v in details.items() if v is not None})
        except Exception as error:
            print(f"lineage dbt: ledger write failed: {error}", file=self.err)

    def _record_preflight(self, report: Report) -> None:
        if self._ledger is None:
            return
        payload = {
            "policy_version": report.policy_version,
            "mode": report.mode,
            "action": report.action.value,
            "nodes": len(report.results),
            "seconds": round(report.seconds, 3),
            "findings": [{"node": node, **finding.to_dict()} for node, finding in report.findings if (finding.action or Action.ALLOW) != Action.ALLOW],
        }
        try:
            with self._lock:
                self._ledger.record_event("dbt_preflight", self.identity, payload)
        except Exception as error:
            print(f"lineage dbt: ledger write failed: {error}", file=self.err)

    # -- OpenLineage ----------------------------------------------------------------------------

    def _invocation_started(self) -> None:
        if self._events is None:
            return
        from lineage.dbt.openlineage import invocation_event

        self._emit(invocation_event("START", self.identity, self.invocation_id, self.project))

    def _invocation_event(self, outcome: Outcome) -> None:
        if self._events is None or not self._started_invocation:
            return
        from lineage.dbt.openlineage import invocation_event

        state = "COMPLETE" if outcome.exit_code == EXIT_OK else "FAIL"
        error = (outcome.message or "failed") if state == "FAIL" else None
        self._emit(invocation_event(state, self.identity, self.invocation_id, self.project, error=error))

    def _node_started(self, msg) -> None:
        if self._events is None:
            return
        info = msg.data.node_info
        node_id = info.unique_id
        if not node_id:
            return
        from lineage.dbt.openlineage import node_event, node_run_identity

        identity = node_run_identity(self.identity, node_id, self.invocation_id)
        with self._lock:
            self.node_runs[node_id] = identity
        self._emit(node_event("START", identity, node_id, info.resource_type, self._node_context()))

    def _node_finished(self, msg) -> None:
        info = msg.data.node_info
        node_id = info.unique_id
        self._finish_pending(f"{node_id} ended with {info.node_status}: {msg.data.run_result.message}")
        if self._events is None or not node_id:
            return
        with self._lock:
            identity = self.node_runs.get(node_id)
        if identity is None:
            return
        from lineage.dbt.openlineage import node_event

        status = (info.node_status or "").lower()
        failed = status in ("error", "fail", "runtime error", "runtimeerr")
        error = (msg.data.run_result.message or status) if failed else None
        self._emit(node_event("FAIL" if failed else "COMPLETE", identity, node_id, info.resource_type, self._node_context(), error=error))

    def _node_context(self):
        from lineage.dbt.openlineage import NodeContext

        if self._context is None or self._context.report is not self.report:
            self._context = NodeContext(self.report, self.engine, self.where, self.invocation_id, self.project)
        return self._context

    def _emit(self, event) -> None:
        if event is None:
            return
        try:
            self._events.emit(event)
        except Exception as error:
            print(f"lineage dbt: cannot emit an OpenLineage event: {error}", file=self.err)

    # -- output -----------------------------------------------------------------------------------

    def _print_report(self, report: Report, seconds: float) -> None:
        shown = [(node, f) for node, f in report.findings if (f.action or Action.ALLOW) not in (Action.ALLOW,)]
        selected = sum(1 for result in report.results if result.node.selected)
        head = (f"lineage-governance pre-flight: {selected} node(s) to run, {len(report.results)} analysed, "
                f"{report.action.value} ({seconds:.2f} s, policy {report.policy_version[:19]}, {report.mode})")
        print(head, file=self.out)
        for node, finding in sorted(shown, key=lambda item: (-(item[1].action or Action.ALLOW).rank, item[0])):
            print(f"  {(finding.action or Action.ALLOW).value.upper():<16} {node}  {finding.rule}: {finding.message}", file=self.out)

    # -- plumbing ---------------------------------------------------------------------------------

    def _open_ledger(self):
        ledger = self.options.ledger
        if ledger is not None and not isinstance(ledger, (str, os.PathLike)):
            return ledger
        from lineage.ledger import open_ledger

        return open_ledger(ledger)

    def _open_events(self):
        if self.options.emitter is not None:
            return self.options.emitter
        from lineage.events.emit import emitter_from_environment

        emitter = emitter_from_environment()
        return emitter if emitter.sinks else None

    def _open_approvals(self):
        if self.options.approvals is not None:
            return self.options.approvals
        from lineage.approvals import Approvals, ApprovalStore
        from lineage.notify import notifier_from_policy

        try:
            notifier = notifier_from_policy(self.policy.policy)
        except Exception:
            notifier = None
        return Approvals(self.policy, ApprovalStore(), ledger=self._ledger, notifier=notifier)

    def _close(self) -> None:
        if self._events is not None and self.options.emitter is None:
            self._events.close(timeout=5.0)
        if self._ledger is not None and self.options.ledger is None or isinstance(self.options.ledger, (str, os.PathLike)):
            with contextlib.suppress(Exception):
                self._ledger.close()


def run_dbt(args: list[str], options: Options, out: TextIO | None = None, err: TextIO | None = None) -> Outcome:
    return DbtRun(options, out, err).invoke(args)


def report_json(report: Report) -> dict:
    return {
        "action": report.action.value,
        "policy_version": report.policy_version,
        "mode": report.mode,
        "seconds": report.seconds,
        "findings": [{"node": node, **finding.to_dict()} for node, finding in report.findings],
        "nodes": {
            result.node.unique_id: {
                "selected": result.node.selected,
                "action": result.action.value,
                "relation": result.node.relation,
                "output_columns": list(result.output_columns),
                "lineage": {target: {source: {"subtype": subtype, "masked": masked} for source, (subtype, masked) in sources.items()}
                            for target, sources in result.lineage.items()},
            }
            for result in report.results
        },
        "masks": {relation: {column: {"strategy": mask.strategy, "tags": list(mask.tags)} for column, mask in masks.items()}
                  for relation, masks in report.masks.items()},
        "classifications": {relation: {column: {tag: {"raw": carried.raw, "path": list(carried.path)} for tag, carried in tags.items()}
                                       for column, tags in columns.items()}
                            for relation, columns in report.columns.items()},
        "usage": report.usage,
    }


# -- helpers --------------------------------------------------------------------------------------


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
def _quiet_sqlglot():
    """sqlglot warns on stderr about dialect details of statements it still reads (regexp flags in
    DuckDB masks, for example); dbt's console is not the place for them."""
    import logging

    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
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


def _rows(status: str | None) -> int | None:
    """``INSERT 0 79`` / ``SELECT 5`` / ``OK`` -> the row count dbt's adapter reported, if any."""
    parts = (status or "").split()
    return int(parts[-1]) if parts and parts[-1].isdigit() else None


def _count_nodes(report: Report, action: Action) -> str:
    nodes = sorted({node for node, finding in report.findings if finding.action == action})
    return f"{len(nodes)} node(s): {', '.join(nodes)}"


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


def _where(config, dialect: str):
    from lineage.events.datasets import Where
    from lineage.events.naming import duckdb_namespace, postgres_namespace, default_namespace

    credentials = config.credentials
    if dialect in ("postgres", "redshift"):
        return Where(postgres_namespace(getattr(credentials, "host", None), getattr(credentials, "port", None)), getattr(credentials, "database", None), dialect)
    if dialect == "duckdb":
        path = getattr(credentials, "path", None)
        return Where(duckdb_namespace(path), getattr(credentials, "database", None), dialect)
    return Where(default_namespace(dialect), getattr(credentials, "database", None), dialect)


def _dialect_of(where) -> str:
    return where.dialect if where is not None else "postgres"


class _Progress:
    """``pre-flight: 120/708 nodes`` on stderr, at most every half second."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.last = 0.0

    def __call__(self, done: int, total: int, node: str) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5 or done == total:
            self.last = now
            self.stream.write(f"\rlineage-governance pre-flight: {done}/{total} nodes ({node[-40:]})".ljust(100))
            self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
