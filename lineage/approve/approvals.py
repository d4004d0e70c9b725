"""Approvals for risky statements: request, notify, approve or deny (signed), expire, verify.

A request shows the exact statement (``lineage.approve.binding``: comments and spacing aside,
literals kept except classified values, shown as ``?``), the job, run, environment and requester.
Approvers come from the policy (``approvals.approvers``); nobody approves their own request (one
canonical name comparison, ``lineage.identity.canonical``); requests and approvals expire after the
policy's ``ttl``. Every step is a ledger record.

An approval is a payload signed with an Ed25519 key the policy trusts (an approver's own key,
``approvals.keys``, or the Airflow UI's server key, ``approvals.server_keys``). The worker that is
about to run the statement verifies it (``lineage.approve.verify``): the store's ``status`` column
proves nothing, since the pipeline and anyone with the store's password can write it. An approval
covers the same statement for the same requester, environment and job, and with ``scope: run``
(the default) only the run that asked; ``lineage dbt|exec|jit run --approval ID`` continues that run.

Storage: SQLite (``.lineage/approvals.db``) by default, PostgreSQL when the URL is
``postgresql://...`` (``$LINEAGE_APPROVALS_URL``, else derived from ``$LINEAGE_LEDGER_URL``), so
workers on many machines and the CLI see the same requests.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from lineage.approve.binding import Classified, StatementBinding, bind_statement, hidden_digest, new_salt
from lineage.approve.verify import Rejected, Signer, VerifiedApproval, check, may_approve, signed_payload, signed_record
from lineage.identity.canonical import same_principal
from lineage.locations import file_url, location
from lineage.disclosure import shown_findings
from lineage.fingerprint import normalize
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action, Decision

log = logging.getLogger(__name__)

PENDING, APPROVED, DENIED, EXPIRED = "pending", "approved", "denied", "expired"
DEFAULT_PATH = Path(".lineage") / "approvals.db"


class ApprovalError(Exception):
    """An approval step that is not allowed (wrong approver, own request, expired, unknown id)."""


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    fingerprint: str
    normalized_sql: str
    job_namespace: str
    job_name: str
    run_id: str
    requester: str
    environment: str
    reasons: list[dict[str, Any]]
    policy_version: str
    status: str
    created_at: str
    expires_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    note: str | None = None
    valid_until: str | None = None
    statement: str | None = None
    dialect: str | None = None
    hidden_salt: str | None = None
    hidden_digest: str | None = None
    signature: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def shown_statement(self) -> str:
        """The statement as approvers see it (older requests only had the literal-free form)."""
        return self.statement or self.normalized_sql

    def is_valid_approval(self, now: datetime) -> bool:
        return self.status == APPROVED and self.valid_until is not None and _parse(self.valid_until) > now


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def default_url(ledger: str | None = None) -> str:
    """``$LINEAGE_APPROVALS_URL``, else next to the ledger (``ledger``, else ``$LINEAGE_LEDGER_URL``)."""
    explicit = os.environ.get("LINEAGE_APPROVALS_URL")
    if explicit:
        return explicit
    return next_to_ledger(str(ledger) if ledger else os.environ.get("LINEAGE_LEDGER_URL", "")) or file_url("sqlite", DEFAULT_PATH)


def next_to_ledger(ledger: str) -> str | None:
    """The approvals store beside a ledger: the same PostgreSQL database, or ``approvals.db`` in
    the SQLite ledger's folder; None without a ledger."""
    if not ledger:
        return None
    where = location(ledger)
    if where.is_postgres:
        return ledger
    if where.kind in ("sqlite", "path"):
        return file_url("sqlite", where.path.with_name("approvals.db"))
    return None


_COLUMNS = (
    "id", "fingerprint", "normalized_sql", "job_namespace", "job_name", "run_id", "requester", "environment",
    "reasons", "policy_version", "status", "created_at", "expires_at", "decided_by", "decided_at", "note", "valid_until",
    "statement", "dialect", "hidden_salt", "hidden_digest", "signature",
)
_ADDED_COLUMNS = ("statement", "dialect", "hidden_salt", "hidden_digest", "signature")

_SCHEMA = """
create table if not exists lineage_approvals (
    id text primary key,
    fingerprint text not null,
    normalized_sql text not null,
    job_namespace text not null,
    job_name text not null,
    run_id text not null,
    requester text not null,
    environment text not null,
    reasons text not null,
    policy_version text not null,
    status text not null,
    created_at text not null,
    expires_at text not null,
    decided_by text,
    decided_at text,
    note text,
    valid_until text,
    statement text,
    dialect text,
    hidden_salt text,
    hidden_digest text,
    signature text
)
"""


class ApprovalStore:
    """Rows of approval requests in SQLite or PostgreSQL; every write is one short transaction."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        self._local = threading.local()
        where = location(self.url)
        self._postgres = where.is_postgres
        if not self._postgres:
            if where.kind != "sqlite":
                raise ApprovalError(f"approvals URL {self.url!r}: use sqlite:///path or postgresql://...")
            self.path = where.path
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as cursor:
            cursor.execute(_SCHEMA)
            cursor.execute("create index if not exists lineage_approvals_fp on lineage_approvals (fingerprint, status)")
            self._add_columns(cursor)

    def _add_columns(self, cursor) -> None:
        """Stores made before approvals were signed get the new columns."""
        if self._postgres:
            rows = cursor.execute("select column_name from information_schema.columns where table_name = 'lineage_approvals' and table_schema = current_schema()").fetchall()
        else:
            rows = [(row[1],) for row in cursor.execute("pragma table_info(lineage_approvals)").fetchall()]
        present = {row[0] for row in rows}
        for column in _ADDED_COLUMNS:
            if column not in present:
                cursor.execute(f"alter table lineage_approvals add column {column} text")

    # -- connections -----------------------------------------------------------------------

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._postgres:
                import psycopg

                connection = psycopg.connect(self.url, autocommit=True)
            else:
                connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                connection.execute("pragma journal_mode=wal")
                connection.execute("pragma busy_timeout=30000")
            self._local.connection = connection
        return connection

    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self_inner):
                connection = store._connection()
                if store._postgres:
                    self_inner.tx = connection.transaction()
                    self_inner.tx.__enter__()
                    self_inner.cursor = connection.cursor()
                else:
                    connection.execute("begin immediate")
                    self_inner.cursor = connection.cursor()
                return _Cursor(self_inner.cursor, store._postgres)

            def __exit__(self_inner, kind, value, traceback):
                connection = store._connection()
                if store._postgres:
                    return self_inner.tx.__exit__(kind, value, traceback)
                connection.execute("rollback" if kind else "commit")
                return False

        return _Tx()

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- rows ------------------------------------------------------------------------------

    def insert(self, request: ApprovalRequest) -> None:
        values = request.to_dict()
        values["reasons"] = json.dumps(values["reasons"])
        values["signature"] = json.dumps(values["signature"]) if values["signature"] is not None else None
        with self._transaction() as cursor:
            cursor.execute(
                f"insert into lineage_approvals ({', '.join(_COLUMNS)}) values ({', '.join('?' for _ in _COLUMNS)})",
                [values[column] for column in _COLUMNS],
            )

    def get(self, request_id: str) -> ApprovalRequest | None:
        with self._transaction() as cursor:
            rows = cursor.execute(f"select {', '.join(_COLUMNS)} from lineage_approvals where id = ?", [request_id]).fetchall()
        return _row(rows[0]) if rows else None

    def find(self, fingerprint: str, statuses: Iterable[str]) -> list[ApprovalRequest]:
        statuses = list(statuses)
        with self._transaction() as cursor:
            rows = cursor.execute(
                f"select {', '.join(_COLUMNS)} from lineage_approvals where fingerprint = ? and status in ({', '.join('?' for _ in statuses)}) order by created_at",
                [fingerprint, *statuses],
            ).fetchall()
        return [_row(row) for row in rows]

    def list(self, status: str | None = None) -> list[ApprovalRequest]:
        query = f"select {', '.join(_COLUMNS)} from lineage_approvals"
        args: list[Any] = []
        if status:
            query += " where status = ?"
            args.append(status)
        with self._transaction() as cursor:
            rows = cursor.execute(query + " order by created_at", args).fetchall()
        return [_row(row) for row in rows]

    def transition(self, request_id: str, expected: str, changes: dict[str, Any]) -> bool:
        """Compare-and-set on status, so two approvers racing cannot both decide."""
        if isinstance(changes.get("signature"), dict):
            changes = {**changes, "signature": json.dumps(changes["signature"])}
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._transaction() as cursor:
            cursor.execute(
                f"update lineage_approvals set {assignments} where id = ? and status = ?",
                [*changes.values(), request_id, expected],
            )
            return cursor.rowcount == 1


class _Cursor:
    """The same qmark SQL on SQLite and PostgreSQL."""

    def __init__(self, cursor, postgres: bool):
        self.cursor = cursor
        self.postgres = postgres

    def execute(self, sql: str, args: list[Any] | None = None):
        if self.postgres:
            sql = sql.replace("?", "%s")
        self.cursor.execute(sql, args or [])
        return self.cursor

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


def _row(row) -> ApprovalRequest:
    values = dict(zip(_COLUMNS, row))
    values["reasons"] = json.loads(values["reasons"])
    try:
        values["signature"] = json.loads(values["signature"]) if values["signature"] else None
    except ValueError:
        values["signature"] = {"unreadable": True}  # a damaged row: verification refuses it
    return ApprovalRequest(**values)


Notifier = Callable[[ApprovalRequest, str], None]


class Approvals:
    """The policy's approval workflow over a store; the governor's ``approvals`` collaborator."""

    def __init__(self, policy, store: ApprovalStore | None = None, ledger=None, notifier: Notifier | None = None,
                 clock: Callable[[], datetime] = now_utc, classified: Classified | None = None):
        self.policy = policy  # a LoadedPolicy
        self.store = store or ApprovalStore()
        self.ledger = ledger
        self.notifier = notifier
        self.clock = clock
        self.classified = classified or Classified.of(policy.policy)
        self._verified: dict[str, VerifiedApproval] = {}
        self._ignored: dict[tuple[str, str], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    @property
    def ttl(self) -> timedelta:
        return self.policy.policy.approvals.ttl

    @property
    def scope(self) -> str:
        return self.policy.policy.approvals.scope

    def binding(self, decision: Decision) -> StatementBinding:
        """The exact statement an approval of ``decision`` binds (what the approver sees)."""
        masked = Classified(tuple(column.column for column in decision.masked_columns), tuple(column.table for column in decision.masked_columns))
        classified = Classified(self.classified.column_globs + masked.column_globs, self.classified.table_globs + masked.table_globs)
        return bind_statement(decision.original_sql, decision.facts.dialect, classified)

    # -- the governor's protocol -----------------------------------------------------------

    def approval_for(self, decision: Decision, identity: RunIdentity) -> str | None:
        """The id of an approval this worker verified for this statement and run, else None.

        Approvals that do not verify are ignored; ``ignored`` says why."""
        fingerprint = normalize(decision.original_sql, decision.facts.dialect)[1]
        now = self.clock()
        candidates = [request for request in reversed(self.store.find(fingerprint, [APPROVED])) if request.is_valid_approval(now)]
        reasons = []
        binding = self.binding(decision) if candidates else None
        for request in candidates:
            try:
                verified = check(self.policy.policy, request.id, request.signature, binding, identity, now)
            except Rejected as rejected:
                if self._concerns(request, identity):
                    reasons.append(f"approval {request.id} ignored: it {rejected}")
                continue
            with self._lock:
                self._verified[verified.id] = verified
                self._ignored.pop((identity.run_id, fingerprint), None)
            return verified.id
        for reason in reasons:
            log.warning("lineage-governance: %s", reason)
        with self._lock:
            self._ignored[(identity.run_id, fingerprint)] = tuple(reasons)
        return None

    def _concerns(self, request: ApprovalRequest, identity: RunIdentity) -> bool:
        """Worth telling this run about: an approval this run asked for or presented."""
        presented = set(identity.attributes.get("approval_ids") or ())
        return request.id in presented or (request.run_id == identity.run_id and request.job_name == identity.job_name)

    def ignored(self, decision: Decision, identity: RunIdentity) -> tuple[str, ...]:
        """Why approvals that seemed to cover this statement did not count (after ``approval_for``)."""
        fingerprint = normalize(decision.original_sql, decision.facts.dialect)[1]
        with self._lock:
            return self._ignored.get((identity.run_id, fingerprint), ())

    def request(self, decision: Decision, identity: RunIdentity) -> str:
        normalized, fingerprint = normalize(decision.original_sql, decision.facts.dialect)
        binding = self.binding(decision)
        now = self.clock()
        self.expire()
        for pending in self.store.find(fingerprint, [PENDING]):
            if self.same_request(pending, binding, identity):
                return pending.id  # a rescheduled task asks again: same request
        salt = new_salt() if binding.hidden else None
        request = ApprovalRequest(
            id=f"apr-{uuid.uuid4().hex[:12]}",
            fingerprint=fingerprint,
            normalized_sql=normalized,
            job_namespace=identity.job_namespace,
            job_name=identity.job_name,
            run_id=identity.run_id,
            requester=identity.principal,
            environment=identity.environment,
            reasons=[finding.to_dict() for finding in shown_findings(decision) if finding.action == decision.action],
            policy_version=decision.policy_version,
            status=PENDING,
            created_at=_iso(now),
            expires_at=_iso(now + self.ttl),
            statement=binding.text,
            dialect=binding.dialect,
            hidden_salt=salt,
            hidden_digest=binding.digest(salt),
        )
        self.store.insert(request)
        self._record("approval_requested", identity, request)
        if self.notifier is not None:
            try:
                self.notifier(request, "requested")
            except Exception as error:  # a dead chat webhook must not lose the request
                log.warning("approval %s: notification failed: %s", request.id, error)
                self._record("approval_notification_failed", identity, request, error=str(error))
        return request.id

    def latest(self, decision: Decision, identity: RunIdentity) -> ApprovalRequest | None:
        """The newest request for this statement from this run, whatever its status: a run asks
        once per statement, and a denied or expired request stays the answer for that run."""
        self.expire()
        fingerprint = normalize(decision.original_sql, decision.facts.dialect)[1]
        candidates = self.store.find(fingerprint, [PENDING, APPROVED, DENIED, EXPIRED])
        if not candidates:
            return None
        binding = self.binding(decision)
        mine = [request for request in candidates if self.same_request(request, binding, identity)]
        return mine[-1] if mine else None

    @staticmethod
    def same_request(request: ApprovalRequest, binding: StatementBinding, identity: RunIdentity) -> bool:
        """``request`` asked for exactly this statement, in this run of this job, for this principal."""
        return (
            request.run_id == identity.run_id
            and request.job_name == identity.job_name
            and request.job_namespace == identity.job_namespace
            and request.environment == identity.environment
            and same_principal(request.requester, identity.principal)
            and request.statement == binding.text
            and request.dialect == binding.dialect
            and request.hidden_digest == (hidden_digest(binding.hidden, request.hidden_salt) if binding.hidden and request.hidden_salt else None)
        )

    def approver(self, approval_id: str) -> str | None:
        """Who approved ``approval_id``, as its verified signature says (never the store's word)."""
        verified = self._verified.get(approval_id)
        return verified.approver if verified is not None else None

    def evidence(self, approval_id: str) -> dict[str, Any] | None:
        """The verified signature behind ``approval_id``, for the ledger record of the statement."""
        verified = self._verified.get(approval_id)
        return verified.evidence() if verified is not None else None

    def grantable(self, decisions: Iterable[Decision], identity: RunIdentity) -> list[Decision]:
        """The decisions as just-in-time grants should see them: a held statement that a verified
        approval covers may run, so it gets its grants (the governor verifies again before it runs)."""
        out = []
        for decision in decisions:
            if decision.effective_action == Action.REQUIRE_APPROVAL and self.approval_for(decision, identity):
                decision = replace(decision, effective_action=Action.ALLOW)
            out.append(decision)
        return out

    def continuing(self, identity: RunIdentity, approval_ids: Iterable[str]) -> tuple[RunIdentity, list[str]]:
        """The identity of a run that continues the run an approval was granted to (``--approval ID``).

        With ``scope: run`` the approval covers only the run that asked, so a new process that
        presents it continues that run (its run id). Approvals of another job, environment or
        principal continue nothing: they are reported and ignored. Returns (identity, notes)."""
        ids = tuple(dict.fromkeys(approval_ids))
        if not ids:
            return identity, []
        identity = identity.with_(attributes={**identity.attributes, "approval_ids": ids})
        notes, runs = [], []
        for approval_id in ids:
            request = self.store.get(approval_id)
            if request is None:
                notes.append(f"approval {approval_id} ignored: there is no such request")
                continue
            facts = (request.signature or {}).get("payload") if isinstance(request.signature, dict) else None
            facts = facts if isinstance(facts, dict) else request.to_dict()
            mismatch = _mismatch(facts, identity)
            if mismatch:
                notes.append(f"approval {approval_id} ignored: {mismatch}")
                continue
            runs.append(str(facts.get("run_id")))
        if self.scope == "run" and runs:
            if len(set(runs)) > 1:
                notes.append(f"approvals {', '.join(ids)} belong to different runs; with approvals.scope run one process continues one run")
            else:
                identity = identity.with_(run_id=runs[0])
        return identity, notes

    # -- decisions by people ----------------------------------------------------------------

    def approve(self, request_id: str, signer: Signer, note: str | None = None) -> ApprovalRequest:
        return self._decide(request_id, signer, APPROVED, note)

    def deny(self, request_id: str, signer: Signer, note: str | None = None) -> ApprovalRequest:
        return self._decide(request_id, signer, DENIED, note)

    def status(self, request_id: str) -> ApprovalRequest:
        self.expire()
        request = self.store.get(request_id)
        if request is None:
            raise ApprovalError(f"no approval request {request_id!r}")
        return request

    def expire(self) -> int:
        """Mark pending requests past their deadline as expired (each a ledger record)."""
        now = self.clock()
        expired = 0
        for request in self.store.list(PENDING):
            if _parse(request.expires_at) <= now and self.store.transition(request.id, PENDING, {"status": EXPIRED}):
                expired += 1
                self._record("approval_expired", None, request)
        return expired

    def _decide(self, request_id: str, signer: Signer, status: str, note: str | None) -> ApprovalRequest:
        self.expire()
        request = self.store.get(request_id)
        if request is None:
            raise ApprovalError(f"no approval request {request_id!r}")
        if request.status != PENDING:
            raise ApprovalError(f"request {request_id} is {request.status}, not pending")
        if request.statement is None:
            raise ApprovalError(f"request {request_id} was made before approvals bound the exact statement; run the job again to ask anew")
        try:
            may_approve(self.policy.policy, signer.approver, signer.groups, request.requester)
        except Rejected as rejected:
            raise ApprovalError(str(rejected)) from None
        now = self.clock()
        valid_until = _iso(now + self.ttl) if status == APPROVED else None
        payload = signed_payload(request, status, signer, _iso(now), valid_until, note)
        changes = {"status": status, "decided_by": signer.approver, "decided_at": _iso(now), "note": note,
                   "signature": signed_record(signer, payload)}
        if status == APPROVED:
            changes["valid_until"] = valid_until
        if not self.store.transition(request_id, PENDING, changes):
            raise ApprovalError(f"request {request_id} was decided by someone else meanwhile")
        decided = self.store.get(request_id)
        approver = RunIdentity(principal=signer.approver, groups=signer.groups, environment=request.environment, source="cli", job_name="approvals")
        self._record(f"approval_{status}", approver, decided)
        if self.notifier is not None:
            try:
                self.notifier(decided, status)
            except Exception as error:
                log.warning("approval %s: notification failed: %s", request_id, error)
        return decided

    def _record(self, kind: str, identity: RunIdentity | None, request: ApprovalRequest, **extra: Any) -> None:
        if self.ledger is None:
            return
        payload = {"request": request.to_dict(), **extra}
        actor = identity or RunIdentity(principal=request.requester, job_namespace=request.job_namespace, job_name=request.job_name, run_id=request.run_id, environment=request.environment, source="cli")
        self.ledger.record_event(kind, actor, payload)


def _mismatch(facts: dict[str, Any], identity: RunIdentity) -> str | None:
    """Why an approval's requester, environment or job is not this run's (None when they are)."""
    if not same_principal(str(facts.get("requester")), identity.principal):
        return f"it was asked by {facts.get('requester')}, this run's principal is {identity.principal}"
    if facts.get("environment") != identity.environment:
        return f"it is for environment {facts.get('environment')}, this run's is {identity.environment}"
    if (facts.get("job_namespace"), facts.get("job_name")) != (identity.job_namespace, identity.job_name):
        return f"it is for job {facts.get('job_namespace')}/{facts.get('job_name')}, this run is {identity.job_namespace}/{identity.job_name}"
    return None
