"""Approvals for risky statements: request, notify, approve or deny, expire.

A request binds the statement's fingerprint (literal-free, so the approved statement is
exactly what runs), the job and run that asked, and the requester. Approvers come from the
policy (``approvals.approvers``); nobody approves their own request; requests and approvals
expire after the policy's ``ttl``. Every step is a ledger record.

An approval covers the statement in the run that asked. Another run of the same job may use it
when it presents the approval id explicitly (``lineage dbt ... --approval ID`` after exit 3).

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
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from lineage.disclosure import shown_findings
from lineage.fingerprint import normalize
from lineage.identity import RunIdentity
from lineage.model import Decision

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_valid_approval(self, now: datetime) -> bool:
        return self.status == APPROVED and self.valid_until is not None and _parse(self.valid_until) > now


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def default_url() -> str:
    explicit = os.environ.get("LINEAGE_APPROVALS_URL")
    if explicit:
        return explicit
    ledger = os.environ.get("LINEAGE_LEDGER_URL", "")
    if ledger.startswith(("postgres://", "postgresql://")):
        return ledger
    if ledger.startswith("sqlite:///"):
        return "sqlite:///" + str(Path(ledger[len("sqlite:///"):]).with_name("approvals.db"))
    if ledger and "://" not in ledger:
        return "sqlite:///" + str(Path(ledger).with_name("approvals.db"))  # a plain ledger file path
    return f"sqlite:///{DEFAULT_PATH}"


_COLUMNS = (
    "id", "fingerprint", "normalized_sql", "job_namespace", "job_name", "run_id", "requester", "environment",
    "reasons", "policy_version", "status", "created_at", "expires_at", "decided_by", "decided_at", "note", "valid_until",
)

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
    valid_until text
)
"""


class ApprovalStore:
    """Rows of approval requests in SQLite or PostgreSQL; every write is one short transaction."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        self._local = threading.local()
        self._postgres = self.url.startswith(("postgres://", "postgresql://"))
        if not self._postgres:
            if not self.url.startswith("sqlite:///"):
                raise ApprovalError(f"approvals URL {self.url!r}: use sqlite:///path or postgresql://...")
            self.path = Path(self.url[len("sqlite:///"):])
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as cursor:
            cursor.execute(_SCHEMA)
            cursor.execute("create index if not exists lineage_approvals_fp on lineage_approvals (fingerprint, status)")

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
    return ApprovalRequest(**values)


Notifier = Callable[[ApprovalRequest, str], None]


class Approvals:
    """The policy's approval workflow over a store; the governor's ``approvals`` collaborator."""

    def __init__(self, policy, store: ApprovalStore | None = None, ledger=None, notifier: Notifier | None = None, clock: Callable[[], datetime] = now_utc):
        self.policy = policy  # a LoadedPolicy
        self.store = store or ApprovalStore()
        self.ledger = ledger
        self.notifier = notifier
        self.clock = clock

    @property
    def ttl(self) -> timedelta:
        return self.policy.policy.approvals.ttl

    # -- the governor's protocol -----------------------------------------------------------

    def approval_for(self, decision: Decision, identity: RunIdentity) -> str | None:
        fingerprint = normalize(decision.original_sql, decision.facts.dialect)[1]
        now = self.clock()
        presented = set(identity.attributes.get("approval_ids") or ())
        for request in reversed(self.store.find(fingerprint, [APPROVED])):
            if not request.is_valid_approval(now):
                continue
            same_run = request.run_id == identity.run_id and request.job_name == identity.job_name
            if same_run or request.id in presented:
                return request.id
        return None

    def request(self, decision: Decision, identity: RunIdentity) -> str:
        normalized, fingerprint = normalize(decision.original_sql, decision.facts.dialect)
        now = self.clock()
        self.expire()
        for pending in self.store.find(fingerprint, [PENDING]):
            if pending.run_id == identity.run_id and pending.job_name == identity.job_name:
                return pending.id  # a rescheduled task asks again: same request
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

    def approver(self, approval_id: str) -> str | None:
        request = self.store.get(approval_id)
        return request.decided_by if request is not None else None

    # -- decisions by people ----------------------------------------------------------------

    def approve(self, request_id: str, approver: RunIdentity, note: str | None = None) -> ApprovalRequest:
        return self._decide(request_id, approver, APPROVED, note)

    def deny(self, request_id: str, approver: RunIdentity, note: str | None = None) -> ApprovalRequest:
        return self._decide(request_id, approver, DENIED, note)

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

    def _decide(self, request_id: str, approver: RunIdentity, status: str, note: str | None) -> ApprovalRequest:
        self.expire()
        request = self.store.get(request_id)
        if request is None:
            raise ApprovalError(f"no approval request {request_id!r}")
        if request.status != PENDING:
            raise ApprovalError(f"request {request_id} is {request.status}, not pending")
        if approver.principal == request.requester:
            raise ApprovalError(f"{approver.principal} requested {request_id} and cannot decide on it (nobody approves their own request)")
        approvers = self.policy.policy.approvals.approvers
        if not any(match.matches(approver.principal, approver.groups) for match in approvers):
            named = ", ".join(m.principal or f"group {m.group}" for m in approvers) or "nobody (the policy names no approvers)"
            raise ApprovalError(f"{approver.principal} is not an approver; the policy names: {named}")
        now = self.clock()
        changes = {"status": status, "decided_by": approver.principal, "decided_at": _iso(now), "note": note}
        if status == APPROVED:
            changes["valid_until"] = _iso(now + self.ttl)
        if not self.store.transition(request_id, PENDING, changes):
            raise ApprovalError(f"request {request_id} was decided by someone else meanwhile")
        decided = self.store.get(request_id)
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
