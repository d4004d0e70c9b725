"""Approvals for Airflow tasks: one request per held statement and task try; wait without a worker slot.

    held statement -> Approvals.request (ledger record, Slack/webhook notification)
                   -> AirflowRescheduleException: the task leaves its worker slot (UP_FOR_RESCHEDULE)
    every approval_poll_interval seconds the task starts again, with the same try number and so
    the same run id; statements before the held one run again, like on a retry
                   -> approved: the statement runs; denied or expired: AirflowFailException

Rescheduling is Airflow's own way for any operator (not only sensors) to come back later: the
task runner turns the exception into UP_FOR_RESCHEDULE, the scheduler's ReadyToRescheduleDep
holds it until the date, and ``dag.test()`` honours it too. It needs no triggerer.

Webhook URLs come from an environment variable named in the policy (``approvals.notify``) or
from an Airflow connection (``[lineage_governance] notify_conn_id`` or the policy's
``approvals.notify.airflow_conn_id``): the connection's extra ``webhook_url`` (or ``url``), or
its host (``https://hooks.slack.com/services``) joined with its password (the token path).
"""

from __future__ import annotations

import logging

from lineage.approve.approvals import APPROVED, DENIED, EXPIRED, PENDING, Approvals, ApprovalRequest, ApprovalStore, default_url, next_to_ledger, now_utc
from lineage.disclosure import shown_statement
from lineage.fingerprint import normalize
from lineage.identity.run_identity import RunIdentity
from lineage.model import Decision
from lineage.approve.notify import notifier_from_policy, slack_notifier, webhook_notifier

log = logging.getLogger("airflow.task.lineage_governance")


class TaskApprovals:
    """The governor's ``approvals`` collaborator for Airflow: a task try asks once per statement.

    A denied or expired request stays the answer for that try (the task fails); a new try
    (new run id) asks again.
    """

    def __init__(self, approvals: Approvals):
        self.approvals = approvals
        self.store = approvals.store

    def approval_for(self, decision: Decision, identity: RunIdentity) -> str | None:
        return self.approvals.approval_for(decision, identity)

    def approver(self, approval_id: str) -> str | None:
        return self.approvals.approver(approval_id)

    def evidence(self, approval_id: str):
        return self.approvals.evidence(approval_id)

    def ignored(self, decision: Decision, identity: RunIdentity) -> tuple[str, ...]:
        return self.approvals.ignored(decision, identity)

    def grantable(self, decisions, identity: RunIdentity) -> list[Decision]:
        return self.approvals.grantable(decisions, identity)

    def request(self, decision: Decision, identity: RunIdentity) -> str:
        earlier = self.latest(decision, identity)
        if earlier is not None and earlier.status != APPROVED:
            return earlier.id
        return self.approvals.request(decision, identity)

    def latest(self, decision: Decision, identity: RunIdentity) -> ApprovalRequest | None:
        """The newest request for this statement from this task try, whatever its status."""
        self.approvals.expire()
        fingerprint = normalize(decision.original_sql, decision.facts.dialect)[1]
        candidates = self.store.find(fingerprint, [PENDING, APPROVED, DENIED, EXPIRED])
        if not candidates:
            return None
        binding = self.approvals.binding(decision)
        mine = [request for request in candidates if self.approvals.same_request(request, binding, identity)]
        return mine[-1] if mine else None

    def waiting(self, decision: Decision, identity: RunIdentity) -> ApprovalRequest | None:
        """An earlier request of this try that does not (or no longer) let the statement run."""
        request = self.latest(decision, identity)
        if request is None or request.is_valid_approval(now_utc()):
            return None
        return request

    def status(self, request_id: str) -> ApprovalRequest:
        return self.approvals.status(request_id)


def wait_for_approval(runtime, request_id: str, decision: Decision) -> None:
    """Reschedule while pending, fail once denied, expired or used up; return when approved
    (an approver may have answered between the request and this check)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

    from airflow_plugin.failures import reschedule_at

    request = runtime.approvals.status(request_id)
    if request.is_valid_approval(now_utc()):
        return
    statement = " ".join(shown_statement(decision).split())[:200]
    if request.status == PENDING:
        interval = runtime.settings.approval_poll_interval
        log.warning(
            "lineage-governance: statement #%s waits for approval %s (expires %s): %s. Approve it in the Airflow UI "
            "(Browse > Lineage governance) or with `lineage approvals approve %s --key FILE`; checking again in %ss",
            decision.index, request.id, request.expires_at, statement, request.id, interval,
        )
        raise AirflowRescheduleException(reschedule_date=reschedule_at(interval))
    if request.status == DENIED:
        note = f": {request.note}" if request.note else ""
        raise AirflowFailException(f"lineage-governance: approval request {request.id} for statement #{decision.index} was denied by {request.decided_by}{note}. Statement: {statement}")
    if request.status == EXPIRED:
        raise AirflowFailException(
            f"lineage-governance: approval request {request.id} for statement #{decision.index} expired at {request.expires_at} "
            f"without a decision. Statement: {statement}. Clear the task to ask again."
        )
    raise AirflowFailException(
        f"lineage-governance: the approval {request.id} for statement #{decision.index} is no longer valid "
        f"(valid until {request.valid_until}). Statement: {statement}. Clear the task to ask again."
    )


def task_approvals(settings, policy, ledger) -> TaskApprovals:
    store = ApprovalStore(approvals_url(settings))
    return TaskApprovals(Approvals(policy, store, ledger=ledger, notifier=notifier(settings, policy)))


def approvals_url(settings) -> str:
    """The settings' approvals URL, else the store beside the ledger, else the default."""
    return settings.approvals_url or next_to_ledger(settings.ledger_url or "") or default_url()


def notifier(settings, policy):
    if settings.notify_conn_id:
        url = url_from_connection(settings.notify_conn_id)
        if not url:
            log.warning("lineage-governance: connection %s holds no webhook URL; approvals are not announced", settings.notify_conn_id)
            return None
        return slack_notifier(url) if "hooks.slack.com" in url else webhook_notifier(url)
    return notifier_from_policy(policy, resolve_url=url_from_connection)


def url_from_connection(conn_id: str) -> str | None:
    """A webhook URL from an Airflow connection (see the module docstring)."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # pragma: no cover
        from airflow.hooks.base import BaseHook
    connection = BaseHook.get_connection(conn_id)
    extra = connection.extra_dejson or {}
    for key in ("webhook_url", "url"):
        if extra.get(key):
            return str(extra[key])
    host = (connection.host or "").strip()
    if not host:
        return None
    if "://" not in host:
        host = f"https://{host}"
    if connection.password and "hooks.slack.com" in host:
        return host.rstrip("/") + "/" + connection.password.lstrip("/")
    if connection.port and host.count(":") == 1:
        scheme, rest = host.split("://", 1)
        base, slash, path = rest.partition("/")
        host = f"{scheme}://{base}:{connection.port}{slash}{path}"
    return host
