"""Approvals for Airflow tasks: one request per held statement and task try; wait without a worker slot.

    held statement -> the governor asks once per task try: Approvals.request (ledger record,
                      Slack/webhook notification), ApprovalRequired -> ``held_exception``
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

from lineage.approve.approvals import APPROVED, DENIED, EXPIRED, PENDING, Approvals, default_url, next_to_ledger
from lineage.approve.service import open_approvals
from lineage.disclosure import shown_statement
from lineage.governor import ApprovalRequired
from lineage.approve.notify import notifier_from_policy, slack_notifier, webhook_notifier

log = logging.getLogger("airflow.task.lineage_governance")


def held_exception(held: ApprovalRequired, poll_interval: float) -> BaseException:
    """The task waits for its approval without a worker slot while the request is pending
    (rescheduled); a denied, expired or no longer valid approval fails it."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

    from airflow_plugin.failures import reschedule_at

    request, decision = held.request, held.decision
    statement = " ".join(shown_statement(decision).split())[:200]
    if request.status in (PENDING, APPROVED):  # approved but not verified (forged, or no longer valid): the next try asks again
        log.warning(
            "lineage-governance: statement #%s waits for approval %s (expires %s): %s. Approve it in the Airflow UI "
            "(Browse > Lineage governance) or with `lineage approvals approve %s --key FILE`; checking again in %ss",
            decision.index, request.id, request.expires_at, statement, request.id, poll_interval,
        )
        return AirflowRescheduleException(reschedule_date=reschedule_at(poll_interval))
    if request.status == DENIED:
        note = f": {request.note}" if request.note else ""
        return AirflowFailException(f"lineage-governance: approval request {request.id} for statement #{decision.index} was denied by {request.decided_by}{note}. Statement: {statement}")
    if request.status == EXPIRED:
        return AirflowFailException(
            f"lineage-governance: approval request {request.id} for statement #{decision.index} expired at {request.expires_at} "
            f"without a decision. Statement: {statement}. Clear the task to ask again."
        )
    return AirflowFailException(f"lineage-governance: {held}")


def task_approvals(settings, policy, ledger) -> Approvals:
    """The governor's approvals collaborator: a task try asks once per statement; a denied or
    expired request stays the answer for that try (the task fails), a new try asks again."""
    return open_approvals(policy, approvals_url(settings), ledger=ledger, notifier=notifier(settings, policy))


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
