"""Governance for the task that is running: settings, policy, engines per connection, governors.

    governance = current()                       # the running task's TaskGovernance (None outside tasks)
    governance.govern(hook, sql, run)            # decide, refuse / wait / run the final SQL, record

One ``Runtime`` per process holds what outlives a task (the policy, one Engine and its
decision cache per connection, the ledger, events and approvals). One ``TaskGovernance`` per
task try holds its identity and one Governor per connection; the governors share a statement
counter so the task's statements are numbered 1, 2, 3 ... across connections.

A missing or invalid policy raises ``GovernanceConfigError`` (the policy error: file, line,
key); the interception turns it into a failed task, never into ungoverned SQL.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.governor import ApprovalRequired, ExecutionContext, GovernanceError, Governor, OutcomeUnknown
from lineage.identity.run_identity import RunIdentity
from lineage.model import Decision
from lineage.policy import LoadedPolicy, PolicyError, load_policy
from lineage.decide.analysis.kinds import Kind

from airflow_plugin.catalog import CatalogReads, load_catalog
from airflow_plugin.connections import Target, describe
from airflow_plugin.failures import GovernanceConfigError, fail
from airflow_plugin.identity import task_identity, with_target
from airflow_plugin.settings import Settings, SettingsError, load_settings

log = logging.getLogger("airflow.task.lineage_governance")

MAX_NOTED = 1000  # decisions kept per task try for its OpenLineage facets
RECENT = 32  # finished task tries kept for the OpenLineage provider's COMPLETE/FAIL facets


# -- the process-wide part ---------------------------------------------------------------------


class Runtime:
    """What one worker process keeps between tasks (cheap to rebuild; cached by its inputs)."""

    def __init__(self, settings: Settings, policy: LoadedPolicy):
        self.settings = settings
        self.policy = policy
        self._engines: dict[tuple, Engine] = {}
        self._lock = threading.Lock()
        self._ledger: Any = _UNSET
        self._events: Any = _UNSET
        self._approvals: Any = _UNSET
        self._statement_events: dict[int, Any] = {}  # id(engine) -> its GovernanceEvents

    @property
    def ledger(self):
        if self._ledger is _UNSET:
            self._ledger = open_ledger(self.settings)
        return self._ledger

    @property
    def emitter(self):
        """One EventEmitter per process (its sinks: the JSONL file, the spool); None when off."""
        if self._events is _UNSET:
            self._events = open_emitter(self.settings)
        return self._events

    def events_for(self, engine):
        """The governor's events collaborator for one connection's engine (catalog, classifier):
        one per engine, so the next task's statements reuse the parts of their events built once."""
        emitter = self.emitter
        if emitter is None:
            return None
        from lineage.deliver.governance import GovernanceEvents

        with self._lock:
            events = self._statement_events.get(id(engine))
            if events is None or events.engine is not engine:
                events = self._statement_events[id(engine)] = GovernanceEvents(emitter, engine)
            return events

    @property
    def approvals(self):
        if self._approvals is _UNSET:
            from airflow_plugin.approvals import task_approvals

            self._approvals = task_approvals(self.settings, self.policy, self.ledger)
        return self._approvals

    def flush(self) -> None:
        """A task ended: its events are in their sinks, and the ledger records of its statements'
        ends are flushed to disk."""
        emitter = self._events
        if emitter is not _UNSET and emitter is not None:
            try:
                if not emitter.flush():
                    log.error("lineage-governance: the task's events were not all written within 30 s (they are written before the process exits)")
            except Exception:
                log.exception("lineage-governance: could not flush the task's events")
        ledger = self._ledger
        if ledger is not _UNSET and ledger is not None and hasattr(ledger, "sync"):
            try:
                ledger.sync()
            except Exception:
                log.exception("lineage-governance: could not flush the ledger at the task's end")

    def engine(self, target: Target) -> Engine:
        key = (target.conn_id, target.namespace, target.database)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None or engine.dialect != target.dialect:
                engine = Engine(self.policy, Catalog(dialect=target.dialect or "postgres"), dialect=target.dialect)
                self._engines[key] = engine
            return engine


class _Unset:
    pass


_UNSET = _Unset()


def open_ledger(settings: Settings):
    """The hash-chained ledger at ``ledger_url`` (default ``$LINEAGE_LEDGER_URL``, else ``.lineage/ledger.db``)."""
    from lineage.record import LedgerError, open_ledger as open_

    try:
        return open_(settings.ledger_url)
    except (LedgerError, OSError) as error:
        raise GovernanceConfigError(f"[lineage_governance] ledger_url: {error}") from None


def open_emitter(settings: Settings):
    """Sinks for the plugin's events: ``events_file`` and, when a backend is configured, the spool."""
    if not settings.events:
        return None
    from lineage.deliver.emit import EventEmitter, JsonlSink
    from lineage.deliver.spool import Spool
    from lineage.deliver.transport import client_from_config, new_client, transport_configured

    sinks = []
    if settings.events_file:
        sinks.append(JsonlSink(settings.events_file))
    if settings.events_transport:
        import json

        transport = json.loads(settings.events_transport)
        sinks.append(Spool(settings.events_spool, client_factory=lambda: client_from_config({"transport": transport})))
    elif transport_configured():
        sinks.append(Spool(settings.events_spool, client_factory=new_client))
    else:
        transport = airflow_openlineage_transport()
        if transport:
            sinks.append(Spool(settings.events_spool, client_factory=lambda: client_from_config({"transport": transport})))
    # built and written by a thread of its own, off the statements' path; flushed at each task's end
    return EventEmitter(sinks, background=True) if sinks else None


def airflow_openlineage_transport() -> dict | None:
    """The OpenLineage provider's ``[openlineage] transport`` (None when absent or disabled)."""
    try:
        from airflow.providers.openlineage import conf as ol_conf
    except ImportError:
        return None
    try:
        if ol_conf.is_disabled():
            return None
        return ol_conf.transport() or None
    except Exception:
        return None


def provider_emits_task_events() -> bool:
    """True when apache-airflow-providers-openlineage is installed and enabled in this process."""
    try:
        from airflow.providers.openlineage import conf as ol_conf
    except ImportError:
        return False
    try:
        return not ol_conf.is_disabled()
    except Exception:
        return False


_runtime_lock = threading.Lock()
_runtime: tuple[tuple, Runtime] | None = None


def runtime() -> Runtime | None:
    """The process's Runtime for the current settings and policy file; None when disabled."""
    global _runtime
    try:
        settings = load_settings()
    except SettingsError as error:
        raise GovernanceConfigError(str(error)) from None
    if not settings.enabled:
        return None
    if not settings.policy_file:
        raise GovernanceConfigError(
            "lineage-governance is enabled but no policy file is configured: set [lineage_governance] policy_file "
            "(AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE), or enabled = False to run tasks ungoverned"
        )
    try:
        stat = os.stat(settings.policy_file)
        key = (settings, stat.st_mtime_ns, stat.st_size, stat.st_ino)
    except OSError:
        key = (settings, None, None, None)
    with _runtime_lock:
        if _runtime is not None and _runtime[0] == key:
            return _runtime[1]
        try:
            policy = load_policy(settings.policy_file)
        except PolicyError as error:
            raise GovernanceConfigError(f"lineage-governance policy error: {error}") from None
        if settings.mode and settings.mode != policy.policy.mode:
            policy = replace(policy, policy=policy.policy.model_copy(update={"mode": settings.mode}))
        _runtime = (key, Runtime(settings, policy))
        return _runtime[1]


# -- the per-task part -------------------------------------------------------------------------


@dataclass
class Binding:
    """One connection as a task uses it."""

    target: Target
    engine: Engine
    governor: Governor
    identity: RunIdentity
    context: ExecutionContext


@dataclass
class TaskGovernance:
    runtime: Runtime
    identity: RunIdentity
    key: tuple
    bindings: dict[tuple, Binding] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)  # what the task's statements were decided (for the task's facets)
    jit_roles: dict[tuple, tuple] = field(default_factory=dict)  # connection -> (JitManager, JitRole)
    on_finish: list[Callable[[str], None]] = field(default_factory=list)  # called with the end state (jit: drop the roles)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- connections -----------------------------------------------------------------------

    @staticmethod
    def connection_key(hook) -> tuple:
        # a hook may point one connection at another database (PostgresHook(database=...))
        return (hook.get_conn_id(), getattr(hook, "database", None))

    def binding(self, hook) -> Binding:
        conn_id = self.connection_key(hook)
        with self.lock:
            binding = self.bindings.get(conn_id)
            if binding is None:
                target = describe(hook)
                identity = with_target(self.identity, target)
                engine = self.runtime.engine(target)
                engine.set_catalog(load_catalog(self.runtime.settings, hook, target, self._catalog_reads(identity, target)))
                governor = Governor(
                    engine,
                    ledger=self.runtime.ledger,
                    events=self.runtime.events_for(engine),
                    approvals=self.runtime.approvals,
                    comment=self.runtime.settings.comment,
                    statement_numbers=self.numbers,
                    retry_guard=retry_guard(self.runtime.ledger),
                    refusals=lambda error, identity=identity: self.refusal(error, identity),
                    on_decision=self.note,
                )
                context = ExecutionContext(target.dialect, target.namespace, target.database)
                binding = Binding(target, engine, governor, identity, context)
                self.bindings[conn_id] = binding
            elif binding.governor.catalog_stale:
                binding.engine.set_catalog(load_catalog(self.runtime.settings, hook, binding.target, self._catalog_reads(binding.identity, binding.target)))
                binding.governor.catalog_stale = False
            return binding

    def _catalog_reads(self, identity: RunIdentity, target: Target) -> CatalogReads:
        return CatalogReads(identity, self.runtime.policy.version, self.runtime.ledger, target.dialect or "postgres", self.runtime.settings.comment)

    # -- statements ------------------------------------------------------------------------

    def govern(self, hook, sql: str, run: Callable[[str], Any], rowcount: Callable[[Any], int | None] | None = None) -> Any:
        """Govern every statement of ``sql`` on ``hook``'s connection; ``run(final_sql)`` executes one.

        Returns the result of the last statement run. Blocked -> AirflowFailException (no
        retries); held for approval -> AirflowRescheduleException while the request is pending
        (the worker slot is freed), AirflowFailException once denied or expired.
        """
        binding = self.binding(hook)
        result = None
        for decision in binding.governor.decide(sql, binding.identity, binding.target.dialect):
            result = binding.governor.execute_decision(decision, binding.identity, run, binding.context, rowcount).result
        return result

    def refusal(self, error: GovernanceError, identity: RunIdentity) -> BaseException:
        """The governor did not run a statement: the Airflow exception that says so (its
        ``refusals`` collaborator). A pending approval reschedules the task; the rest fail it."""
        from airflow_plugin.approvals import held_exception
        from airflow_plugin.refusal import failure, task_log_message

        if isinstance(error, OutcomeUnknown):  # it may have run: no automatic retry runs it blind
            return fail(str(error))
        if isinstance(error, ApprovalRequired) and error.request is not None:
            return held_exception(error, self.runtime.settings.approval_poll_interval)
        log.error("%s", task_log_message(error.decision, identity, self.runtime.settings.policy_file))
        return failure(str(error))

    def note(self, decision: Decision) -> None:
        with self.lock:
            if len(self.decisions) < MAX_NOTED:
                self.decisions.append(decision)

    def is_metadata_query(self, hook, sql: str) -> bool:
        """True for the OpenLineage provider's own lookups: only catalog views, or no table at all."""
        binding = self.binding(hook)
        for decision in binding.governor.decide(sql, binding.identity, binding.target.dialect):
            facts = decision.facts
            if facts.kind != Kind.SELECT or facts.writes or facts.opaque:
                return False
            if set(facts.reads) - set(facts.system_reads):
                return False
        return True




def retry_guard(ledger):
    """Refuses what an earlier try of the task left with an unknown outcome (``lineage.record.outcomes``)."""
    from airflow_plugin.identity import earlier_task_runs
    from lineage.record.outcomes import RetryGuard

    return RetryGuard(ledger, earlier_task_runs) if ledger is not None else None


# -- which task is running ---------------------------------------------------------------------

_active: TaskGovernance | None = None
_recent: "OrderedDict[str, TaskGovernance]" = OrderedDict()
_active_lock = threading.Lock()


def _current_context():
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:
        return None


def start(context) -> TaskGovernance | None:
    """Governance for the task attempt in ``context`` (created once per attempt; None when disabled)."""
    global _active
    ti = context["ti"]
    key = (str(getattr(ti, "id", "")), ti.dag_id, ti.task_id, ti.run_id, ti.try_number, ti.map_index, str(getattr(ti, "start_date", "")))
    with _active_lock:
        if _active is not None and _active.key == key:
            return _active
        current_runtime = runtime()
        if current_runtime is None:
            return None
        identity = task_identity(context, current_runtime.policy, current_runtime.settings.environment)
        _active = TaskGovernance(current_runtime, identity, key)
        return _active


def current() -> TaskGovernance | None:
    """The running task's governance: from the task context, else the task this process runs."""
    context = _current_context()
    if context is not None:
        return start(context)
    return _active


def finish(state: str = "COMPLETE") -> None:
    """The task attempt ended: just-in-time roles are dropped, its events and ledger records
    flushed; its governance stays findable by run id for the provider's facets."""
    global _active
    with _active_lock:
        if _active is not None:
            for cleanup in _active.on_finish:
                cleanup(state)
            _active.runtime.flush()
            _recent[_active.identity.run_id] = _active
            while len(_recent) > RECENT:
                _recent.popitem(last=False)
        _active = None


def running() -> TaskGovernance | None:
    """The task this process runs, without the lock: for a signal handler, which runs on the
    thread that may hold it."""
    return _active


def governance_of(run_id: str) -> TaskGovernance | None:
    """The governance of a task attempt by its (OpenLineage) run id, running or recently ended."""
    with _active_lock:
        if _active is not None and _active.identity.run_id == run_id:
            return _active
        return _recent.get(run_id)
