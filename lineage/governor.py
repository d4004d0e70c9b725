"""The one data path every adapter (DB-API wrapper, Airflow hook, dbt runner) drives.

    governor.execute(sql, identity, run)
      -> engine decisions (one per statement)                       decide()
      -> block: ledger record, FAIL event, StatementBlocked          admit()
      -> require_approval: approved? run : ledger record, approval
         request (once per run), ApprovalRequired                    admit(), approval_state()
      -> allow/warn/mask: ledger ``started``, START event            begin()
      -> run(final SQL stamped with the identity comment)
      -> ledger record (rows, duration, error), COMPLETE|FAIL event  end()
      -> DDL that ran: the catalog follows it, or is marked stale    catalog_stale

The adapters only translate their world into ``(sql, identity, run)`` and carry out the
outcome; all judgement lives in the engine. A runner that runs statements itself after a
judgement of its own (dbt, whose pre-flight judged the DAG) records them through ``begin`` and
``end``. A database error of an identity that reads classified data masked is raised scrubbed
(its first line, values as ``?``), as is what the ledger and the events get. The ledger,
events, approvals and refusals are optional collaborators so each can be used (and tested)
alone; ``refusals`` turns the governor's errors into the adapter's (Airflow's exceptions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from lineage.identity.comment import identity_comment, stamp
from lineage.disclosure import shown_findings, shown_statement, statement_names
from lineage.fingerprint import literal_values
from lineage.mask.step import masks_for
from lineage.disclosure import scrub_literals, scrub_values
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action, Decision
from lineage.decide.catalog_follow import catalog_follows
from lineage.record.outcomes import OutcomeUnsettled, connection_lost


class GovernanceError(Exception):
    """Base of the errors that stop a statement; ``decision`` says why."""

    def __init__(self, message: str, decision: Decision):
        super().__init__(message)
        self.decision = decision


class StatementBlocked(GovernanceError):
    pass


class OutcomeUnknown(GovernanceError):
    """The statement may have run, but its outcome is unknown (the connection broke while it ran)
    or could not be recorded (the ledger failed after it ran). ``started`` is the ledger sequence
    number of its ``started`` record; ``lineage ledger reconcile`` settles it."""

    def __init__(self, message: str, decision: Decision, started: int | None):
        super().__init__(message, decision)
        self.started = started


class ApprovalRequired(GovernanceError):
    """``request``: the approval request the statement waits on (its status: pending, denied,
    expired, or approved but no longer valid); None when no approvals store is configured."""

    def __init__(self, message: str, decision: Decision, request_id: str | None, request: Any = None):
        super().__init__(message, decision)
        self.request_id = request_id
        self.request = request


class LedgerLike(Protocol):
    def record_statement(self, identity: RunIdentity, decision: Decision, phase: str, **details: Any) -> Any:
        """``phase``: ``refused`` (blocked or held; never ran), ``started`` (written durably before
        the statement runs), ``finished`` or ``failed`` (after, with rows, duration, error), or
        ``unknown`` (the connection broke while it ran: it may have run)."""


class EventsLike(Protocol):
    def statement_started(self, identity: RunIdentity, decision: Decision, context: "ExecutionContext") -> Any: ...

    def statement_finished(self, identity: RunIdentity, decision: Decision, context: "ExecutionContext", outcome: "Outcome") -> Any: ...


class ApprovalsLike(Protocol):
    def approval_for(self, decision: Decision, identity: RunIdentity) -> str | None:
        """The id of a valid approval covering this statement and run, else None."""

    def request(self, decision: Decision, identity: RunIdentity) -> str:
        """Create (or find the pending) approval request; returns its id."""

    def approver(self, approval_id: str) -> str | None:
        """Who approved ``approval_id`` (for the decision facet and the ledger)."""

    def latest(self, decision: Decision, identity: RunIdentity) -> Any:
        """The newest request for this statement from this run, whatever its status, else None."""

    # optional: ``evidence(approval_id) -> dict`` (the verified signature, kept in the ledger) and
    # ``ignored(decision, identity) -> tuple[str, ...]`` (why approvals that seemed to apply did not)


class RefusalsLike(Protocol):
    def __call__(self, error: GovernanceError) -> BaseException:
        """The exception the adapter raises for a statement the governor did not run."""


@dataclass(frozen=True)
class ExecutionContext:
    """Where statements run: used for dataset names in events (``postgres://host:port``, ``duckdb://path``)."""

    dialect: str
    namespace: str | None = None
    database: str | None = None
    statement_number: int = 0


@dataclass(frozen=True)
class ApprovalState:
    """Where a statement held for approval stands for a run: ``approval_id`` when a verified
    approval covers it; else ``request``, the run's newest request for it (None: not asked yet)."""

    approval_id: str | None = None
    request: Any = None

    @property
    def status(self) -> str:
        if self.approval_id is not None:
            return "approved"
        return self.request.status if self.request is not None else "not requested"


@dataclass
class Outcome:
    decision: Decision
    executed_sql: str | None
    result: Any = None
    rowcount: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    approval_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Running:
    """A statement between ``Governor.begin`` (recorded as started) and ``Governor.end``."""

    outcome: Outcome
    identity: RunIdentity
    context: ExecutionContext
    seq: int | None
    started: float = field(default_factory=time.perf_counter)


def explain_refusal(decision: Decision) -> str:
    """The message a pipeline shows for a blocked or held statement: rule, statement, what to do.
    Task logs are widely read: literals show as ``?`` (``lineage.disclosure``)."""
    findings = shown_findings(decision)
    relevant = [f for f in findings if f.action == decision.action] or list(findings)
    reasons = "; ".join(f"{f.rule}: {f.message}" for f in relevant)
    statement = " ".join(shown_statement(decision).split())
    if len(statement) > 300:
        statement = statement[:297] + "..."
    if decision.action == Action.BLOCK:
        advice = "Change the statement, or ask the policy owners to allow it (policy version " + decision.policy_version[:19] + ")."
        return f"blocked by lineage-governance ({reasons}) for statement #{decision.index}: {statement}. {advice}"
    return (
        f"approval required by lineage-governance ({reasons}) for statement #{decision.index}: {statement}. "
        "Approve it with `lineage approvals approve <request id> --key FILE` (an approver named in the policy) or in the Airflow UI, and re-run."
    )


class Governor:
    def __init__(
        self,
        engine: Engine,
        ledger: LedgerLike | None = None,
        events: EventsLike | None = None,
        approvals: ApprovalsLike | None = None,
        comment: bool = True,
        statement_numbers: dict[str, int] | None = None,
        retry_guard: Any = None,
        refusals: RefusalsLike | None = None,
        on_decision: Callable[[Decision], None] | None = None,
    ):
        """``retry_guard`` (``lineage.record.outcomes.RetryGuard``): refuses a statement an earlier try of
        the same work left with an unknown outcome (raises ``OutcomeUnknown``). ``on_decision``: told
        of every decision about to be carried out (Airflow keeps them for the task's facets)."""
        self.engine = engine
        self.retry_guard = retry_guard
        self.ledger = ledger
        self.events = events
        self.approvals = approvals
        self.comment = comment
        self.refusals = refusals
        self.on_decision = on_decision
        # a statement changed relations in a way the catalog could not follow: read it again
        # before the next statement is analysed (``lineage.decide.catalog_follow``)
        self.catalog_stale = False
        # shared by the governors of one pipeline task (one per database connection), so the
        # statements of a run are numbered 1, 2, 3 ... whichever connection ran them
        self._statement_numbers: dict[str, int] = {} if statement_numbers is None else statement_numbers
        self._comment: tuple[RunIdentity, str, str] | None = None  # the last identity comment (URL-encoding it costs)

    def decide(self, sql: str, identity: RunIdentity, dialect: str | None = None) -> tuple[Decision, ...]:
        return self.engine.check(sql, identity, dialect)

    def execute(
        self,
        sql: str,
        identity: RunIdentity,
        run: Callable[[str], Any],
        context: ExecutionContext | None = None,
        rowcount: Callable[[Any], int | None] | None = None,
    ) -> list[Outcome]:
        """Govern and run every statement in ``sql``; ``run(final_sql)`` executes one.

        Statements before a refused one have run (as they would have without governance);
        the refused one and the rest do not.
        """
        context = context or ExecutionContext(dialect=self.engine.dialect)
        outcomes = []
        for decision in self.decide(sql, identity, context.dialect):
            outcomes.append(self.execute_decision(decision, identity, run, context, rowcount))
        return outcomes

    def execute_decision(
        self,
        decision: Decision,
        identity: RunIdentity,
        run: Callable[[str], Any],
        context: ExecutionContext,
        rowcount: Callable[[Any], int | None] | None = None,
    ) -> Outcome:
        """Carry out one decision: refuse it (raises), or run it and record how it went."""
        approval_id = self.admit(decision, identity, context)
        running = self.begin(decision, identity, context, approval_id)
        outcome = running.outcome
        failure = None
        try:
            outcome.result = run(outcome.executed_sql)
        except Exception as error:
            outcome.duration_ms = (time.perf_counter() - running.started) * 1000
            failure = self._scrubbed(error, decision, identity, running.context)
            shown = failure if failure is not None else error
            outcome.error = f"{type(shown).__name__}: {shown}"
            if connection_lost(error):
                outcome.error = f"outcome unknown: the connection was lost while the statement ran ({outcome.error})"
                self._record_end(running, "unknown", cause=shown)
            self._record_end(running, "failed")
            if failure is None:
                raise
        if failure is not None:
            raise failure  # outside the handler: the raw error is not chained to it
        rows = None
        if rowcount is not None:
            try:
                rows = rowcount(outcome.result)
            except Exception:
                rows = None
        return self.end(running, rowcount=rows)

    def admit(self, decision: Decision, identity: RunIdentity, context: ExecutionContext) -> str | None:
        """May ``decision`` run now? Returns the approval it runs under (None when it needs none).
        Otherwise records the refusal (a held statement's approval is requested once per run)
        and raises ``StatementBlocked``, ``ApprovalRequired`` or ``OutcomeUnknown`` (through
        ``refusals`` when the adapter has its own exceptions)."""
        if self.on_decision is not None:
            self.on_decision(decision)
        approval_id = None
        if decision.effective_action == Action.BLOCK:
            message = explain_refusal(decision)
            self._refuse(decision, identity, context, message, None)
            self._raise(StatementBlocked(message, decision))
        if decision.effective_action == Action.REQUIRE_APPROVAL:
            state = self.approval_state(decision, identity)
            # asked once per run; an "approved" request that does not verify (forged in the store,
            # or past its validity) answers nothing: ask again
            if state.approval_id is None and state.status in ("not requested", "approved"):
                request_id = self.approvals.request(decision, identity) if self.approvals else None
                self._refuse(decision, identity, context, explain_refusal(decision), request_id)
                state = self.approval_state(decision, identity)  # an approver may have answered already
            approval_id = state.approval_id
            if approval_id is None:
                self._raise(ApprovalRequired(self._held_message(decision, identity, state), decision,
                                             state.request.id if state.request is not None else None, state.request))
        if self.retry_guard is not None:
            self._check_earlier_tries(decision, identity)
        return approval_id

    def approval_state(self, decision: Decision, identity: RunIdentity) -> ApprovalState:
        """Whether a verified approval lets ``decision`` run in this run, or which request it waits on."""
        if self.approvals is None:
            return ApprovalState()
        approval_id = self.approvals.approval_for(decision, identity)
        if approval_id is not None:
            return ApprovalState(approval_id=approval_id)
        return ApprovalState(request=self.approvals.latest(decision, identity))

    def begin(self, decision: Decision, identity: RunIdentity, context: ExecutionContext, approval_id: str | None = None) -> Running:
        """The statement runs now: its number, its final SQL (stamped with the identity comment),
        the durable ``started`` record and the START event."""
        context = self._numbered(identity, context)
        final_sql = stamp(decision.sql, self._identity_comment(identity, decision.policy_version)) if self.comment else decision.sql
        outcome = Outcome(decision, final_sql, approval_id=approval_id)
        if approval_id is not None and self.approvals is not None:
            outcome.extra["approver"] = self.approvals.approver(approval_id)
            evidence = getattr(self.approvals, "evidence", None)
            outcome.extra["approval_evidence"] = evidence(approval_id) if evidence is not None else None
        seq = None
        if self.ledger is not None:
            seq = getattr(self.ledger.record_statement(identity, decision, "started", executed_sql=final_sql, approval_id=approval_id,
                                                       approval_evidence=outcome.extra.get("approval_evidence")), "seq", None)
        if self.events is not None:
            self.events.statement_started(identity, decision, context)
        return Running(outcome, identity, context, seq)

    def end(self, running: Running, rowcount: int | None = None, error: str | None = None, duration_ms: float | None = None) -> Outcome:
        """The statement ended (``error``: it failed): the ledger record and the COMPLETE or FAIL
        event; after DDL that ran, the catalog follows it or is marked stale."""
        outcome = running.outcome
        outcome.duration_ms = duration_ms if duration_ms is not None else (time.perf_counter() - running.started) * 1000
        outcome.rowcount = rowcount
        if error is not None:
            outcome.error = error
            self._record_end(running, "failed")
            return outcome
        try:
            follows = catalog_follows(self.engine, outcome.decision)
        except Exception:  # the statement ran: it is recorded as such, and a catalog that could not follow is read again
            follows = False
        if not follows:
            self.catalog_stale = True
        self._record_end(running, "finished")
        return outcome

    def _check_earlier_tries(self, decision: Decision, identity: RunIdentity) -> None:
        try:
            self.retry_guard.check(decision, identity)
        except OutcomeUnsettled as unsettled:
            if self.ledger is not None and hasattr(self.ledger, "record_event"):
                self.ledger.record_event("statement_not_retried", identity, {
                    "index": decision.index, "unsettled_seq": unsettled.entry.seq,
                    "fingerprint": (unsettled.entry.body.get("statement") or {}).get("fingerprint"),
                })
            error = OutcomeUnknown(str(unsettled), decision, unsettled.entry.seq)
        else:
            return
        self._raise(error)

    def _record_end(self, running: Running, phase: str, cause: BaseException | None = None) -> None:
        """Record how the statement ended. When that is not known (``unknown``) or cannot be
        recorded (the ledger fails), raise ``OutcomeUnknown``: the statement may have run, and
        running it again blind could do its work twice."""
        outcome, identity, seq = running.outcome, running.identity, running.seq
        problem = None
        try:
            self._record(identity, outcome, running.context, phase)
        except Exception as error:
            problem = error
        if phase != "unknown" and problem is None:
            return
        number = f"statement #{outcome.decision.index}"
        where = f"ledger record {seq}" if seq is not None else "no ledger record"
        if phase == "unknown":
            what = f"the connection to the database was lost while {number} ran ({_first_line(cause)}): the statement may have run"
            if problem is not None:
                what += f"; recording that failed too ({_first_line(problem)})"
        elif phase == "finished":
            rows = f", {outcome.rowcount} row(s)" if outcome.rowcount is not None else ""
            what = f"{number} ran{rows}, but the ledger could not record it ({_first_line(problem)}): the statement may have run"
        else:
            what = f"{number} failed ({outcome.error}), and the ledger could not record that ({_first_line(problem)})"
        settle = f"`lineage ledger reconcile --seq {seq} --ran` or `--not-run`" if seq is not None else "`lineage ledger reconcile`"
        message = (f"lineage-governance: {what}. Its outcome is unknown to the ledger ({where}, started); do not run it "
                   f"again blind: check the target (its rows; the database's log, where it carries run_id '{identity.run_id}'), "
                   f"then settle it with {settle}.")
        error = OutcomeUnknown(message, outcome.decision, seq)
        error.__cause__ = cause or problem
        error.__suppress_context__ = True
        self._raise(error)

    def _raise(self, error: GovernanceError) -> None:
        error.__suppress_context__ = True  # raised from within handlers: the cause is set, the context is noise
        if self.refusals is None:
            raise error
        raise self.refusals(error) from error.__cause__

    def _held_message(self, decision: Decision, identity: RunIdentity, state: ApprovalState) -> str:
        message = explain_refusal(decision)
        if state.request is None:
            return message + " No approvals store is configured."
        message += f" Request id: {state.request.id} ({state.request.status})."
        ignored = getattr(self.approvals, "ignored", None)
        reasons = ignored(decision, identity) if ignored is not None else ()
        if reasons:
            message += " " + "; ".join(reasons) + "."
        return message

    def _scrubbed(self, error: Exception, decision: Decision, identity: RunIdentity, context: ExecutionContext) -> Exception | None:
        """For an identity that reads classified data masked, the database's error without the
        values it echoes (``DETAIL: Failing row contains (...)`` holds the raw row; the message
        quotes values; its ``LINE`` context quotes the SQL, key material included): the first line,
        quoted texts and numbers as ``?``, as an exception of the same type. None for others."""
        if not masks_for(self.engine.context(identity), context.dialect):
            return None
        dialect = decision.facts.dialect
        literals = literal_values(decision.original_sql, dialect) | literal_values(decision.sql, dialect)
        message = scrub_values(scrub_literals(str(error), literals), statement_names(decision)) or type(error).__name__
        message += " (the database's details are withheld: this identity reads classified data masked)"
        try:
            scrubbed = type(error)(message)
        except Exception:
            scrubbed = Exception.__new__(type(error))
            Exception.__init__(scrubbed, message)
        return scrubbed

    def _identity_comment(self, identity: RunIdentity, policy_version: str) -> str:
        cached = self._comment
        if cached is None or cached[1] != policy_version or cached[0] != identity:
            cached = self._comment = (identity, policy_version, identity_comment(identity, policy_version))
        return cached[2]

    def _numbered(self, identity: RunIdentity, context: ExecutionContext) -> ExecutionContext:
        number = self._statement_numbers.get(identity.run_id, 0) + 1
        self._statement_numbers[identity.run_id] = number
        return ExecutionContext(context.dialect, context.namespace, context.database, number)

    def _refuse(self, decision: Decision, identity: RunIdentity, context: ExecutionContext, message: str, request_id: str | None) -> None:
        context = self._numbered(identity, context)
        outcome = Outcome(decision, None, error=message, extra={"approval_request": request_id} if request_id else {})
        if self.events is not None:
            self.events.statement_started(identity, decision, context)
        self._record(identity, outcome, context, "refused")

    def _record(self, identity: RunIdentity, outcome: Outcome, context: ExecutionContext, phase: str) -> None:
        try:
            if self.ledger is not None:
                self.ledger.record_statement(
                    identity,
                    outcome.decision,
                    phase,
                    rows=outcome.rowcount,
                    duration_ms=outcome.duration_ms,
                    error=outcome.error,
                    approval_id=outcome.approval_id,
                    approval_request=outcome.extra.get("approval_request"),
                    approval_evidence=outcome.extra.get("approval_evidence"),
                )
        finally:  # the events tell what happened even when the ledger could not
            if self.events is not None:
                self.events.statement_finished(identity, outcome.decision, context, outcome)


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
