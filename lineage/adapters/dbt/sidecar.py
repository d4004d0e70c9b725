"""The governance sidecar of ``lineage dbt``: a second process that judges and records while
the first one runs dbt.

    lineage dbt build
      dbt process                                   sidecar process (this module)
      ---------------------------------------       ------------------------------------------------
      start the sidecar, import dbt (2 s)           import sqlglot, openlineage; load the policy;
                                                    resolve the identity; open ledger, events, approvals
      parse, select, compile in analysis mode  -->  pre-flight: engine over the DAG, approvals, plan
      run dbt with the plan                    <--  verdict (block / approval / the macros' plan)
      SQLQuery / NodeStart / NodeFinished      -->  ledger records, OpenLineage events (not blocking dbt)
      done                                     -->  invocation COMPLETE/FAIL, flush, report back

On a 2-core machine the two processes run side by side, so governance adds to dbt's wall time
only what dbt must wait for: the pre-flight's compile and verdict, and the final flush. Messages
are tuples over a ``multiprocessing`` pipe; the sidecar never prints (it sends lines to print).
If the sidecar dies, the dbt process stops (fail closed): nothing runs unrecorded.
"""

from __future__ import annotations

import gc
import json
import os
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lineage.model import Action

EXIT_OK, EXIT_BLOCKED, EXIT_BAD_INPUT, EXIT_APPROVAL = 0, 1, 2, 3
PROGRESS_FROM = 50  # nodes: larger projects get a progress line every few seconds while dbt compiles
RUN_NODES = frozenset({"model", "seed", "snapshot", "test", "unit_test", "sql_operation", "operation"})


@dataclass
class Config:
    """What the sidecar needs to start; picklable (it crosses a process boundary)."""

    project: str
    command: str | None
    policy: str | None = None
    principal: str | None = None
    groups: tuple[str, ...] | None = None
    environment: str | None = None
    catalog: str | None = None
    wait: bool = False
    wait_timeout: float | None = None
    poll_seconds: float = 2.0
    approval_ids: tuple[str, ...] = ()
    ledger: str | None = None
    approvals: str | None = None
    events_file: str | None = None
    report_json: str | None = None
    env: dict[str, str] | None = None


class Stop(Exception):
    def __init__(self, message: str, exit_code: int, requests: list[str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.requests = requests or []


def main(conn, config: Config) -> None:
    """The sidecar's loop: one reply per request, fire-and-forget for dbt's events."""
    import logging

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # dialect notes on dbt's SQL are not for dbt's console
    try:
        governance = Governance(config)
    except Exception as error:  # bad policy, unusable ledger, malformed OPENLINEAGE_*: exit 2
        conn.send(("error", EXIT_BAD_INPUT, str(error)))
        conn.close()
        return
    hello = governance.hello()
    # the modules, policy and stores loaded so far live as long as the process: the collector need
    # not walk them again on every full collection while dbt's statements arrive
    gc.freeze()
    conn.send(("ready", hello))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            governance.finish(EXIT_BLOCKED, "the dbt process went away")
            return
        kind = message[0]
        try:
            if kind == "q":
                governance.statement_started(*message[1:])
            elif kind == "s":
                governance.statement_finished(*message[1:])
            elif kind == "ns":
                governance.node_started(*message[1:])
            elif kind == "nf":
                governance.node_finished(*message[1:])
            elif kind == "invocation":
                governance.invocation_started(*message[1:])
            elif kind == "begin":
                governance.begin(message[1])
            elif kind == "catalog":
                governance.catalog(message[1])
            elif kind == "catalog_failed":
                governance.failed = message[1]
            elif kind == "node":
                governance.node(message[1])
            elif kind == "end":
                conn.send(("verdict", governance.end(message[1], message[2], lambda text: conn.send(("print", text)))))
                governance.after_verdict()  # the record of it, once dbt is on its way
            elif kind == "done":
                conn.send(("closed", governance.finish(*message[1:])))
                conn.close()
                return
        except Exception as error:
            if kind in ("begin", "catalog", "node", "end", "done"):
                governance.failed = governance.failed or f"{kind}: {error}"
            if kind in ("end", "done"):
                conn.send(("error", EXIT_BLOCKED, f"lineage-governance sidecar: {error}\n{traceback.format_exc()}"))
                if kind == "done":
                    return
            else:
                governance.warn(f"lineage dbt: {kind}: {error}")


class Governance:
    def __init__(self, config: Config):
        from lineage.adapters.dbt.identity import comment_environment, governed_identity
        from lineage.policy import default_policy, load_policy

        self.config = config
        env = dict(os.environ if config.env is None else config.env)
        self.policy = load_policy(config.policy) if config.policy else default_policy()
        self.identity = governed_identity(self.policy.policy, config.project, config.command, env, principal=config.principal,
                                          groups=config.groups, environment=config.environment)
        self.ledger = self._ledger()
        self.approvals = None
        self.approval_notes: list[str] = []
        if config.approval_ids:  # --approval ID continues the run the approval was granted to
            self.identity, self.approval_notes = self._approvals_store().continuing(self.identity, config.approval_ids)
        self.comment_env = comment_environment(self.identity, self.policy.version)
        self.emitter = self._emitter(env)
        self.engine = None
        self.report = None
        self.plan: dict | None = None
        self.approved: dict[str, str] = {}
        self.requests: list[str] = []
        self.invocation_id: str | None = None
        self.where = None
        self.dialect = "postgres"
        self.node_runs: dict[str, Any] = {}
        self.node_identities: dict[str, Any] = {}
        self.ran: dict[str, tuple] = {}  # node id -> the masked columns in the SQL it sent
        self.pending: dict[int, tuple] = {}
        self.warnings: list[str] = []
        self.context = None
        self.started = False
        self.failed: str | None = None
        self.payload: dict = {}
        self.queued: list = []
        self.preflight_run = None
        self.governor = None

    def hello(self) -> dict:
        from lineage.identity.comment import application_name
        from lineage.adapters.dbt.warehouse import LIVE, columns_query

        return {
            "identity": self.identity.to_dict(),
            "env": self.comment_env,
            "application_name": application_name(self.identity),
            "policy_version": self.policy.version,
            # ready before dbt needs them: the pre-flight reads the catalog without a round trip
            "catalog_queries": {dialect: columns_query(dialect) for dialect in LIVE},
        }

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    # -- the pre-flight ---------------------------------------------------------------------------

    def begin(self, payload: dict) -> None:
        """The pre-flight starts: what dbt knows before it compiles (relations, meta, exposures)."""
        self.payload = payload
        self.dialect = payload["dialect"]
        self.where = where_of(payload["where"])
        self.queued: list = []
        self.preflight_run = None

    def catalog(self, live: list[tuple]) -> None:
        """The warehouse's columns arrived: build the engine and analyse what is already compiled."""
        from lineage.adapters.dbt.manifest import classification_entries
        from lineage.adapters.dbt.preflight import Preflight
        from lineage.adapters.dbt.warehouse import live_tables, merged_catalog
        from lineage.decide.engine import Engine

        payload = self.payload
        layers = [live_tables(live)]
        if self.config.catalog:
            from lineage.decide.catalog import Catalog

            layers.append(Catalog.from_json_file(self.config.catalog, dialect=self.dialect).tables)
        layers.extend(payload["layers"])
        catalog = merged_catalog(self.dialect, payload.get("database"), payload.get("schema"), *layers)
        self.engine = Engine(self.policy, catalog, self.dialect, extra_classifications=classification_entries(payload["meta"]), masker=None)
        self.governor = None
        self.preflight_run = Preflight(self.engine, self.identity, payload["relations"], payload["exposures"], payload["contracts"])
        for node in self.queued:
            self.preflight_run.add(node)
        self.queued = []

    def node(self, node) -> None:
        """One node compiled (in DAG order): analysed while dbt compiles the next."""
        if self.failed:
            return
        if self.preflight_run is None:
            self.queued.append(node)
        else:
            self.preflight_run.add(node)

    def end(self, nodes: list, compile_seconds: float, say) -> dict:
        """The verdict: {"exit_code": None to run | 1 | 3, "message", "plan", "requests"}."""
        from lineage.adapters.dbt.plan import PlanError, macro_plan

        if self.failed:
            return {"exit_code": EXIT_BLOCKED, "message": f"lineage-governance pre-flight: {self.failed}; nothing ran", "requests": [], "plan": None}
        for node in nodes:
            self.node(node)
        preflight = self.preflight_run
        report = self.report = preflight.finish()
        approvals = self._approvals_store() if report.needs_approval else None
        pending = self._presented(report, approvals) if approvals is not None else []
        for line in report_lines(report, compile_seconds + report.seconds, self._covering(approvals)):
            say(line)
        try:
            if report.blocked:
                blocked = sorted({node for node, finding in report.findings if finding.action == Action.BLOCK})
                raise Stop(f"lineage-governance pre-flight blocked {len(blocked)} node(s): {', '.join(blocked)}; nothing ran", EXIT_BLOCKED)
            if pending:
                self._request_approvals(report, approvals, pending, say)
            self._allowed_schema_changes(report)
            catalog = self.engine.catalog
            columns = {relation.lower(): list(catalog.columns(relation) or {}) for relation in report.masks}
            try:
                self.plan = macro_plan(report, preflight.planner, self.dialect, self.approved, columns)
            except PlanError as error:
                raise Stop(f"lineage-governance pre-flight: {error}; nothing ran", EXIT_BLOCKED) from None
        except Stop as stop:
            self.requests = stop.requests or self.requests
            return {"exit_code": stop.exit_code, "message": str(stop), "requests": self.requests, "plan": None}
        return {"exit_code": None, "message": "", "requests": self.requests, "plan": json.dumps(self.plan)}

    def after_verdict(self) -> None:
        """The pre-flight's ledger record and JSON report (after the verdict: not on dbt's path)."""
        if self.report is None:
            return
        self._record_preflight(self.report)
        if self.config.report_json:
            Path(self.config.report_json).write_text(json.dumps(report_json(self.report), indent=2, default=str))

    def _allowed_schema_changes(self, report) -> None:
        """Schema changes the policy lets through are approved for guard_schema_change too
        (the macro refuses every change the runner did not clear)."""
        for result in report.results:
            changes = [f for f in result.findings if f.rule in ("drop_column", "rename", "alter_column_type")]
            if result.node.selected and changes and result.node.unique_id not in self.approved:
                if report.mode == "audit":
                    self.approved[result.node.unique_id] = "policy:audit"
                elif all((f.action or Action.ALLOW).rank <= Action.WARN.rank for f in changes):
                    self.approved[result.node.unique_id] = f"policy:{Action.strictest(f.action or Action.ALLOW for f in changes).value}"

    def _presented(self, report, approvals) -> list:
        """The nodes held for approval that no valid approval (presented with --approval, or of
        this run) covers yet; the covered ones go into ``self.approved``."""
        from lineage.approve.binding import Classified

        approvals.classified = Classified.of_entries(self.engine.classifier.entries)  # the models' column meta too
        identity = self.identity  # carries the presented approval ids (Approvals.continuing)
        pending = []
        for result in report.results:
            if not result.node.selected or result.action != Action.REQUIRE_APPROVAL:
                continue
            approval = self._governor().approval_state(report.decision_for(result), identity).approval_id
            if approval:
                self.approved[result.node.unique_id] = approval
            else:
                pending.append(result)
        return pending

    def _covering(self, approvals) -> dict[str, str]:
        """node -> "apr-... by <approver>": the approval each held node runs under, for the report."""
        if approvals is None:
            return {}
        out = {}
        for node, approval in self.approved.items():
            who = approvals.approver(approval)
            out[node] = f"{approval} by {who}" if who else approval
        return out

    def _request_approvals(self, report, approvals, results: list, say) -> None:
        """Ask for the held nodes' approvals the way the governor asks for any statement's (a
        ledger record, one request per run); stop, or wait for them with --wait."""
        from lineage.governor import ApprovalRequired

        identity, governor = self.identity, self._governor()
        for note in self.approval_notes:
            say(f"lineage-governance: {note}")
        pending: dict[str, Any] = {}  # node -> (request id, decision)
        for result in results:
            decision = report.decision_for(result)
            try:
                approval = governor.admit(decision, identity, self._execution_context())
            except ApprovalRequired as held:
                for reason in approvals.ignored(decision, identity):
                    say(f"lineage-governance: {reason}")
                if held.request is not None and held.request.status not in ("pending", "approved"):  # approved: not verified yet
                    raise Stop(f"lineage-governance: approval request {held.request_id} for {result.node.unique_id} was "
                               f"{held.request.status}; nothing ran", EXIT_BLOCKED, [held.request_id]) from None
                pending[result.node.unique_id] = (held.request_id, decision)
            else:
                self.approved[result.node.unique_id] = approval  # an approver answered as it was asked
        if not pending:
            return
        self.requests = sorted({request for request, _ in pending.values()})
        say("lineage-governance: approval required before anything runs:")
        for node, (request, _) in sorted(pending.items()):
            say(f"  {request}  {node}")
        if not self.config.wait:
            say("Approve with `lineage approvals approve <id> --key FILE`, then run again with --approval <id> (or use --wait).")
            raise Stop(f"lineage-governance pre-flight: approval required ({', '.join(self.requests)}); nothing ran", EXIT_APPROVAL, self.requests)
        self._wait(approvals, pending, say)

    def _wait(self, approvals, pending: dict[str, Any], say) -> None:
        """Poll the governor's ``approval_state`` of each held node until all are approved (a
        verified signature for this statement and run: the store's word is not enough)."""
        timeout = self.config.wait_timeout if self.config.wait_timeout is not None else approvals.ttl.total_seconds()
        deadline = time.monotonic() + timeout
        governor = self._governor()
        say(f"lineage-governance: waiting up to {timeout:.0f} s for {', '.join(self.requests)}")
        while pending:
            for node, (request_id, decision) in list(pending.items()):
                state = governor.approval_state(decision, self.identity)
                if state.approval_id is not None:
                    self.approved[node] = state.approval_id
                    del pending[node]
                elif state.status == "approved":
                    reasons = "; ".join(approvals.ignored(decision, self.identity)) or f"approval {request_id} does not verify"
                    raise Stop(f"lineage-governance: {reasons}; nothing ran", EXIT_APPROVAL, self.requests)
                elif state.status != "pending":
                    raise Stop(f"lineage-governance: approval request {request_id} for {node} was {state.status}; nothing ran", EXIT_BLOCKED, self.requests)
            if pending:
                if time.monotonic() >= deadline:
                    waiting = ", ".join(sorted({request for request, _ in pending.values()}))
                    raise Stop(f"lineage-governance: no decision on {waiting} in {timeout:.0f} s; nothing ran", EXIT_APPROVAL, self.requests)
                time.sleep(self.config.poll_seconds)
        for node, line in sorted(self._covering(approvals).items()):
            say(f"  APPROVED         {node}  runs under approval {line}")
        say("lineage-governance: approved; running")

    # -- statements -------------------------------------------------------------------------------

    def statement_started(self, thread: int, node_id: str | None, sql: str) -> None:
        """dbt sent a statement (it runs it as it is: the pre-flight judged its node): recorded
        through the governor as started."""
        self._fail_pending(thread, "dbt sent the next statement on this thread before reporting this one's status")
        decisions = self._decisions(sql, node_id)
        identity = self._identity_for(node_id)
        approval = self.approved.get(node_id) if node_id else None
        if node_id:
            from lineage.adapters.dbt.masks import merged

            masked = [decision.masked_columns for decision in decisions if decision.masked_columns]
            if masked:
                self.ran[node_id] = merged(self.ran.get(node_id, ()), *masked)
        governor, context, running = self._governor(), self._execution_context(), []
        for decision in decisions:
            try:
                running.append(governor.begin(decision, identity, context, approval))
            except Exception as error:
                self.warn(f"lineage dbt: ledger write failed: {error}")
        self.pending[thread] = running

    def statement_finished(self, thread: int, status: str | None, elapsed: float | None) -> None:
        for running in self.pending.pop(thread, None) or ():
            self._end(running, rowcount=_rows(status), duration_ms=elapsed * 1000.0 if elapsed else None)

    def _fail_pending(self, thread: int | None, error: str, node_id: str | None = None) -> None:
        """Statements that got no status: the next one on their thread came, their node failed, or dbt ended."""
        threads = [thread] if thread is not None else list(self.pending)
        for key in threads:
            running = self.pending.get(key)
            if not running or (node_id is not None and running[0].identity.attributes.get("node_id") != node_id):
                continue
            del self.pending[key]
            for one in running:
                self._end(one, error=error)

    def _end(self, running, **how: Any) -> None:
        try:
            self._governor().end(running, **how)
        except Exception as error:
            self.warn(f"lineage dbt: ledger write failed: {error}")

    def _decisions(self, sql: str, node_id: str | None = None):
        """The record of what dbt sent, as it ran. dbt runs it as it is: enforcement happened in the
        pre-flight, so the DAG-level rules it replaced are not repeated here, the node's own upkeep
        of its relation (a seed emptied before it is loaded again) is the node the pre-flight let
        run, and a statement that ran is never recorded as blocked or held (in enforce mode a rule
        that would have stopped it on its own stays among its findings). The masked columns are
        the masks in the SQL itself (``lineage.adapters.dbt.masks``)."""
        from lineage.adapters.dbt.preflight import REPLACED_RULES
        from lineage.decide.dbt_swap import DBT_RELATION
        from lineage.decide.verdict import revised

        own = self._relation_of(node_id)
        out = []
        # the node's own relation: its swap names (x__dbt_tmp, x__dbt_backup) are no rename or drop
        judged = self.identity.with_(attributes={**self.identity.attributes, DBT_RELATION: own}) if own else self.identity
        for decision in self._governor().decide(sql, judged):
            findings = tuple(f for f in decision.findings
                             if f.rule not in REPLACED_RULES and not _upkeep(f, own) and not _seed_load(f, decision.facts, node_id, own))
            decision = revised(decision, findings, self._masks_in(decision))
            if not decision.may_run and not (decision.effective_action == Action.REQUIRE_APPROVAL and node_id in self.approved):
                ran = Action.MASK if decision.masked_columns else Action.WARN  # it ran: the pre-flight judged its node
                decision = replace(decision, action=ran, effective_action=ran)
            out.append(decision)
        return out

    def _masks_in(self, decision) -> tuple:
        """The masks the statement's SQL holds that this run's pre-flight planned (a marker it did
        not plan counts for nothing: the value is then recorded as read raw)."""
        from lineage.adapters.dbt.masks import MARKER, ran_masks

        sql = decision.facts.sql
        if MARKER not in sql:
            return ()
        engine = self.engine
        return ran_masks(sql, decision.facts.dialect, lambda text: next(iter(engine.analyze(text)), None), self._context().tags_of, self._planned)

    def _planned(self, marker, relation: str | None) -> bool:
        """Whether the pre-flight planned this mask: the plan masks the governed relation's column
        with that strategy, or a ``mask()`` call with that strategy and tag was analysed."""
        if self.report is None or self.plan is None:
            return False
        if relation is None:
            return (marker.strategy, marker.tag) in self.report.mask_calls
        from lineage.adapters.dbt.masks import column_name

        column = column_name(marker, self.dialect)
        masks = (self.plan.get("relations", {}).get(relation) or {}).get("masks", {})
        planned = next((mask for name, mask in masks.items() if column and name.lower() == column.lower()), None)
        return planned is not None and planned.get("strategy") == marker.strategy

    def _relation_of(self, node_id: str | None) -> str | None:
        relation = (self.payload.get("relations") or {}).get(node_id) if node_id else None
        return relation.lower() if relation else None

    def _identity_for(self, node_id: str | None):
        from lineage.adapters.dbt.identity import node_identity

        if not node_id:
            return self.identity
        found = self.node_identities.get(node_id)
        if found is None:
            found = self.node_identities[node_id] = node_identity(self.identity, node_id, self.invocation_id)
        return found

    def _record(self, identity, decision, phase: str, **details: Any) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record_statement(identity, decision, phase, **{k: v for k, v in details.items() if v is not None})
        except Exception as error:
            self.warn(f"lineage dbt: ledger write failed: {error}")

    def _record_preflight(self, report) -> None:
        if self.ledger is None:
            return
        from lineage.fingerprint import literal_values
        from lineage.disclosure import scrub_tree

        findings = []
        for result in report.results:
            # a finding may quote its statement (a parse error does): no literal value reaches the ledger
            literals = literal_values(result.statement, report_dialect(result)) if result.statement else frozenset()
            for finding in result.findings:
                if (finding.action or Action.ALLOW) != Action.ALLOW:
                    findings.append(scrub_tree({"node": result.node.unique_id, **finding.to_dict()}, literals))
        payload = {
            "policy_version": report.policy_version,
            "mode": report.mode,
            "action": report.action.value,
            "nodes": len(report.results),
            "seconds": round(report.seconds, 3),
            "findings": findings,
        }
        try:
            self.ledger.record_event("dbt_preflight", self.identity, payload)
        except Exception as error:
            self.warn(f"lineage dbt: ledger write failed: {error}")

    # -- OpenLineage ------------------------------------------------------------------------------

    def invocation_started(self, invocation_id: str) -> None:
        from lineage.adapters.dbt.openlineage import invocation_event

        self.invocation_id = invocation_id
        self.started = True
        if self.emitter is not None:
            self._emit(invocation_event("START", self.identity, invocation_id, self.config.project))

    def node_started(self, node_id: str, resource_type: str) -> None:
        from lineage.adapters.dbt.openlineage import node_event, node_run_identity

        if self.emitter is None or not node_id or str(resource_type) not in RUN_NODES:
            return  # exposures and the like do not run
        identity = node_run_identity(self.identity, node_id, self.invocation_id)
        self.node_runs[node_id] = identity
        self._emit(node_event("START", identity, node_id, resource_type, self._context()))

    def node_finished(self, node_id: str, resource_type: str, status: str, message: str | None) -> None:
        from lineage.adapters.dbt.openlineage import node_event

        if status.lower() in ("error", "fail", "runtime error"):
            self._fail_pending(None, f"{node_id} ended with {status}: {message}", node_id)
        identity = self.node_runs.get(node_id)
        if self.emitter is None or identity is None:
            return
        failed = status.lower() in ("error", "fail", "runtime error")
        error = (message or status) if failed else None
        self._emit(node_event("FAIL" if failed else "COMPLETE", identity, node_id, resource_type, self._context(), error=error))

    def _context(self):
        from lineage.adapters.dbt.openlineage import NodeContext

        if self.context is None or self.context.report is not self.report or self.context.engine is not self.engine:
            self.context = NodeContext(self.report, self.engine, self.where, self.invocation_id, self.config.project, plan=self.plan, ran=self.ran)
        self.context.plan = self.plan
        return self.context

    def _emit(self, event) -> None:
        try:
            self.emitter.emit(event)
        except Exception as error:
            self.warn(f"lineage dbt: cannot emit an OpenLineage event: {error}")

    # -- the end ----------------------------------------------------------------------------------

    def finish(self, exit_code: int, message: str | None) -> dict:
        from lineage.adapters.dbt.openlineage import invocation_event

        self._fail_pending(None, "dbt ended without reporting this statement's status")
        if self.emitter is not None and self.started:
            state = "COMPLETE" if exit_code == EXIT_OK else "FAIL"
            self._emit(invocation_event(state, self.identity, self.invocation_id, self.config.project,
                                        error=(message or "failed") if state == "FAIL" else None))
        if self.emitter is not None:
            try:
                self.emitter.close(timeout=5.0)
            except Exception as error:
                self.warn(f"lineage dbt: closing the events emitter: {error}")
        if self.ledger is not None:
            try:
                self.ledger.close()
            except Exception:
                pass
        return {
            "node_runs": {node_id: identity.run_id for node_id, identity in self.node_runs.items()},
            "report": report_json(self.report) if self.report is not None else None,
            "requests": self.requests,
            "warnings": self.warnings,
            "plan": self.plan,
        }

    # -- plumbing ---------------------------------------------------------------------------------

    def _governor(self):
        """The governor dbt's statements are decided and recorded through (the pre-flight's engine;
        the statements run in dbt, so it stamps nothing: dbt's query-comment does)."""
        from lineage.governor import Governor

        if self.engine is None:
            from lineage.decide.engine import Engine

            self.engine = Engine(self.policy, dialect=self.dialect, masker=None)
        if self.governor is None or self.governor.engine is not self.engine:
            self.governor = Governor(self.engine, ledger=self.ledger, approvals=self.approvals, comment=False)
        self.governor.approvals = self.approvals
        return self.governor

    def _execution_context(self):
        from lineage.governor import ExecutionContext

        where = self.where
        return ExecutionContext(self.dialect, where.namespace if where else None, where.database if where else None)

    def _ledger(self):
        from lineage.record import open_ledger

        return open_ledger(self.config.ledger)

    def _emitter(self, env: dict[str, str]):
        from lineage.deliver.emit import emitter_from_environment

        emitter = emitter_from_environment(jsonl=self.config.events_file, env=env)
        return emitter if emitter.sinks else None

    def _approvals_store(self):
        from lineage.approve.service import open_approvals

        if self.approvals is None:
            self.approvals = open_approvals(self.policy, self.config.approvals, ledger=self.ledger, ledger_url=self.config.ledger)
        return self.approvals


class Progress:
    """``lineage-governance pre-flight: 240/708 nodes analysed`` at most every 2 seconds, and at the end."""

    def __init__(self, say, verb: str, every: float = 2.0):
        self.say, self.verb, self.every = say, verb, every
        self.last = time.monotonic()

    def __call__(self, done: int, total: int, node: str = "") -> None:
        now = time.monotonic()
        if done == total or now - self.last >= self.every:
            self.last = now
            self.say(f"lineage-governance pre-flight: {done}/{total} nodes {self.verb}")


def where_of(warehouse: dict):
    """The events' ``Where`` (namespace, database, dialect) per OpenLineage's dataset naming."""
    from lineage.deliver.datasets import Where
    from lineage.deliver.naming import default_namespace, duckdb_namespace, postgres_namespace

    dialect = warehouse["dialect"]
    if dialect in ("postgres", "redshift"):
        namespace = postgres_namespace(warehouse.get("host"), warehouse.get("port"))
    elif dialect == "duckdb":
        namespace = duckdb_namespace(warehouse.get("path"))
    else:
        namespace = default_namespace(dialect)
    return Where(namespace, warehouse.get("database"), dialect)


def report_dialect(result) -> str:
    return result.decision.facts.dialect if result.decision is not None else "postgres"


def report_lines(report, seconds: float, approved: dict[str, str] | None = None) -> list[str]:
    """The pre-flight's summary and findings; a finding held for approval that an approval covers
    (``approved``: node -> "apr-... by <approver>") says so instead of asking again."""
    approved = approved or {}
    shown = [(node, f) for node, f in report.findings if (f.action or Action.ALLOW) != Action.ALLOW]
    selected = sum(1 for result in report.results if result.node.selected)
    verdict = report.action.value
    held = {node for node, f in shown if f.action == Action.REQUIRE_APPROVAL}
    if report.action == Action.REQUIRE_APPROVAL and held and held <= set(approved):
        verdict = f"approved ({', '.join(sorted({approved[node] for node in held}))})"
    lines = [f"lineage-governance pre-flight: {selected} node(s) to run, {len(report.results)} analysed, "
             f"{verdict} ({seconds:.2f} s, policy {report.policy_version[:19]}, {report.mode})"]
    for node, finding in sorted(shown, key=lambda item: (-(item[1].action or Action.ALLOW).rank, item[0])):
        label = (finding.action or Action.ALLOW).value.upper()
        note = ""
        if finding.action == Action.REQUIRE_APPROVAL and node in approved:
            label, note = "APPROVED", f" (runs under approval {approved[node]})"
        lines.append(f"  {label:<16} {node}  {finding.rule}: {finding.message}{note}")
    return lines


def report_json(report) -> dict:
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


def _upkeep(finding, relation: str | None) -> bool:
    """A node emptying its own relation (dbt truncates a seed's table before it loads it again):
    what the node the pre-flight cleared does, not a finding of its own."""
    if relation is None or finding.rule != "truncate" or not finding.object:
        return False
    return _is_relation(finding.object, relation)


def _is_relation(name: str, relation: str) -> bool:
    target = name.lower()
    return target == relation or target.endswith("." + relation) or relation.endswith("." + target)


def _seed_load(finding, facts, node_id: str | None, relation: str | None) -> bool:
    """dbt-duckdb loads a seed with ``COPY <seed's table> FROM '<its CSV>'``: the seed node's own
    load, not a file read of its own (a hook's COPY is no seed node's and stays a finding)."""
    from lineage.decide.analysis.kinds import Kind

    if finding.rule != "file_read" or relation is None or not (node_id or "").startswith("seed.") or facts.kind != Kind.COPY_IN:
        return False
    return any(_is_relation(target, relation) for target in facts.writes)


def _rows(status: str | None) -> int | None:
    """``INSERT 0 79`` / ``SELECT 5`` / ``OK`` -> the row count dbt's adapter reported, if any."""
    parts = (status or "").split()
    return int(parts[-1]) if parts and parts[-1].isdigit() else None


def serve(fd: int) -> None:
    """The sidecar process: its end of the socket pair is ``fd``; the first message is its Config.
    Started by ``lineage.adapters.dbt.runner.Sidecar`` as ``python -c`` (not ``-m``, which would run
    this module twice: once as ``__main__`` and once for the Config it unpickles)."""
    from multiprocessing.connection import Connection

    connection = Connection(fd)
    first = connection.recv()
    main(connection, first[1])


if __name__ == "__main__":  # python -m lineage.adapters.dbt.sidecar <fd>
    import sys

    serve(int(sys.argv[1]))
