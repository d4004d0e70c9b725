"""Notifications for approval requests: a Slack incoming webhook (through slack-sdk) or a generic webhook.

Messages carry the statement as approvers see it (``lineage.approve.binding``: classified values
as ``?``), never raw classified values.
The URL comes from an environment variable named in the policy (``approvals.notify``), or
from an Airflow connection (resolved by the Airflow plugin). A failing webhook never loses
the request: the caller records the failure and the request stays pending.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Callable, Mapping

from lineage.approve.approvals import ApprovalRequest

TIMEOUT_SECONDS = 5


def describe(request: ApprovalRequest, event: str) -> str:
    reasons = "; ".join(f"{reason['rule']}: {reason['message']}" for reason in request.reasons) or "policy"
    if event == "requested":
        return (
            f":lock: Approval needed for `{request.job_namespace}/{request.job_name}` "
            f"(run {request.run_id}, requested by {request.requester}, {request.environment})\n"
            f"Why: {reasons}\nStatement: ```{request.shown_statement[:1500]}```\n"
            f"Approve: `lineage approvals approve {request.id} --key FILE`  Deny: `lineage approvals deny {request.id} --key FILE`  "
            f"(expires {request.expires_at})"
        )
    return f"Approval request {request.id} for `{request.job_name}` was {event} by {request.decided_by}."


def slack_notifier(url: str) -> Callable[[ApprovalRequest, str], None]:
    def send(request: ApprovalRequest, event: str) -> None:
        text = describe(request, event)
        try:
            from slack_sdk.webhook import WebhookClient
        except ImportError:
            _post_json(url, {"text": text})
            return
        response = WebhookClient(url, timeout=TIMEOUT_SECONDS).send(text=text)
        if response.status_code >= 300:
            raise RuntimeError(f"Slack webhook answered {response.status_code}: {response.body[:200]}")

    return send


def webhook_notifier(url: str) -> Callable[[ApprovalRequest, str], None]:
    def send(request: ApprovalRequest, event: str) -> None:
        _post_json(url, {"event": f"approval_{event}", "request": request.to_dict(), "text": describe(request, event)})

    return send


def _post_json(url: str, payload: dict) -> None:
    body = json.dumps(payload).encode()
    http_request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(http_request, timeout=TIMEOUT_SECONDS) as response:
        if response.status >= 300:
            raise RuntimeError(f"webhook answered {response.status}")


def notifier_from_policy(policy, env: Mapping[str, str] | None = None, resolve_url: Callable[[str], str | None] | None = None):
    """The notifier the policy's ``approvals.notify`` configures, or None.

    ``resolve_url(conn_id)`` turns an Airflow connection id into a URL (the plugin passes one).
    """
    env = os.environ if env is None else env
    notify = policy.policy.approvals.notify
    if notify is None:
        return None
    if notify.slack_webhook_env and env.get(notify.slack_webhook_env):
        return slack_notifier(env[notify.slack_webhook_env])
    if notify.webhook_url_env and env.get(notify.webhook_url_env):
        return webhook_notifier(env[notify.webhook_url_env])
    if notify.airflow_conn_id and resolve_url is not None:
        url = resolve_url(notify.airflow_conn_id)
        if url:
            return slack_notifier(url) if "hooks.slack.com" in url else webhook_notifier(url)
    return None
