"""The plugin's page in the Airflow 3 UI: a FastAPI app mounted by the API server.

    GET  /lineage-governance/                       the page (pending approvals, ledger, policy)
    GET  /lineage-governance/api/policy             the policy in force: file, version, mode, rules
    GET  /lineage-governance/api/approvals          ?status=pending|approved|denied|expired|all
    POST /lineage-governance/api/approvals/{id}/approve   {"note": "..."}  (approver: the logged-in user)
    POST /lineage-governance/api/approvals/{id}/deny      {"note": "..."}
    GET  /lineage-governance/api/ledger             ?dag_id=&dag_run_id=&task_id=&run_id=&limit=

Every route needs a logged-in Airflow user (the API server's JWT, from the ``_token`` cookie
the UI sets or an ``Authorization: Bearer`` header). The approver is that user: principal =
the user name, groups = the policy's ``identity.groups`` for that name plus ``airflow:<role>``
for the user's Airflow roles; the policy's ``approvals.approvers`` decides, and nobody
approves their own request. The UI signs the decision with its server key
(``[lineage_governance] approvals_signing_key``), whose public key the policy lists in
``approvals.server_keys``: the workers run a statement only on an approval they can verify.
Decisions are POSTs with a JSON body (``Content-Type: application/json``), refused when the
browser says they come from another site: a cross-site form cannot approve with the user's cookie.
The menu link (Browse > Lineage governance) and the tabs on a DAG run and a task instance open
this page, filtered to that run.
"""

from __future__ import annotations

import html
import json
from typing import Any

# this module is imported only when the API server builds the app (plugin.fastapi_apps)
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from airflow.api_fastapi.core_api.security import get_user

LEDGER_LIMIT = 500


def create_app() -> FastAPI:
    app = FastAPI(title="lineage-governance", description="Approvals, ledger and policy of lineage-governance")

    def state():
        from airflow_plugin.failures import GovernanceConfigError
        from airflow_plugin.runtime import runtime

        try:
            current = runtime()
        except GovernanceConfigError as error:
            raise HTTPException(status_code=503, detail=str(error)) from None
        if current is None:
            raise HTTPException(status_code=503, detail="lineage-governance is disabled ([lineage_governance] enabled = False)")
        return current

    @app.get("/api/policy")
    def policy_view(user=Depends(get_user)) -> dict[str, Any]:
        return describe_policy(state())

    @app.get("/api/approvals")
    def approvals_view(status: str = Query("pending"), user=Depends(get_user)) -> list[dict[str, Any]]:
        return list_approvals(state(), status)

    @app.post("/api/approvals/{request_id}/approve")
    async def approve(request_id: str, request: Request, user=Depends(get_user)) -> dict[str, Any]:
        return decide(state(), request_id, user, "approve", await _note(request))

    @app.post("/api/approvals/{request_id}/deny")
    async def deny(request_id: str, request: Request, user=Depends(get_user)) -> dict[str, Any]:
        return decide(state(), request_id, user, "deny", await _note(request))

    @app.get("/api/ledger")
    def ledger_view(
        dag_id: str | None = None,
        dag_run_id: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        limit: int = Query(100, ge=1, le=LEDGER_LIMIT),
        user=Depends(get_user),
    ) -> list[dict[str, Any]]:
        return ledger_records(state(), dag_id=dag_id, dag_run_id=dag_run_id, task_id=task_id, run_id=run_id, limit=limit)

    @app.get("/", response_class=HTMLResponse)
    def page(
        dag_id: str | None = None,
        dag_run_id: str | None = None,
        task_id: str | None = None,
        user=Depends(get_user),
    ) -> str:
        current = state()
        return render_page(
            user_name(user),
            describe_policy(current),
            list_approvals(current, "pending"),
            ledger_records(current, dag_id=dag_id, dag_run_id=dag_run_id, task_id=task_id, limit=100),
            {"dag_id": dag_id or "", "dag_run_id": dag_run_id or "", "task_id": task_id or ""},
        )

    return app


async def _note(request: Request) -> str | None:
    """The note of a decision, from a same-site JSON body; anything a cross-site form can send is refused."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(status_code=415, detail="decisions take a JSON body (Content-Type: application/json)")
    site = request.headers.get("sec-fetch-site", "").lower()
    if site and site not in ("same-origin", "none"):
        raise HTTPException(status_code=403, detail=f"a decision from another site ({site}) is refused")
    try:
        body = await request.json()
    except Exception:
        raise HTTPException(status_code=422, detail="the body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(status_code=422, detail='the body is not a JSON object such as {"note": "..."}')
    note = body.get("note")
    return str(note)[:500] if note else None


# -- what the routes return (plain functions, so the CLI and tests can use them too) -----------


def user_name(user) -> str:
    name = user.get_name() if hasattr(user, "get_name") else getattr(user, "username", None)
    return str(name)


def approver_identity(current, user):
    """The logged-in Airflow user as an approver: policy groups plus ``airflow:<role>``."""
    from lineage.identity.run_identity import RunIdentity
    from lineage.identity.principal import groups_of

    name = user_name(user)
    groups = set(groups_of(current.policy.policy.identity, name))
    roles = getattr(user, "roles", None) or ([getattr(user, "role", None)] if getattr(user, "role", None) else [])
    for role in roles:
        role_name = getattr(role, "name", role)
        if role_name:
            groups.add(f"airflow:{str(role_name).lower()}")
    return RunIdentity(principal=name, groups=tuple(sorted(groups)), environment=current.settings.environment, source="airflow", job_name="approvals-ui")


def decide(current, request_id: str, user, verdict: str, note: str | None) -> dict[str, Any]:
    from lineage.approve.approvals import ApprovalError

    approvals = current.approvals
    signer = ui_signer(current, approver_identity(current, user))
    try:
        request = approvals.approve(request_id, signer, note) if verdict == "approve" else approvals.deny(request_id, signer, note)
    except ApprovalError as error:
        status = 404 if "no approval request" in str(error) else 403
        raise HTTPException(status_code=status, detail=str(error)) from None
    return request.to_dict()


def ui_signer(current, approver):
    """The UI's server key, signing for ``approver`` (the logged-in user)."""
    from lineage.approve.keys import ApprovalKeyError, load_private
    from lineage.approve.verify import Rejected, signer_for

    path = current.settings.approvals_signing_key
    if not path:
        raise HTTPException(status_code=503, detail="the UI has no signing key ([lineage_governance] approvals_signing_key); "
                            "workers ignore unsigned approvals, so approve with `lineage approvals approve ID --key FILE`")
    try:
        signer = signer_for(current.policy.policy.approvals, load_private(path), user=approver.principal, groups=approver.groups)
    except (ApprovalKeyError, Rejected) as error:
        raise HTTPException(status_code=503, detail=f"[lineage_governance] approvals_signing_key: {error}") from None
    if signer.kind != "server":
        raise HTTPException(status_code=503, detail=f"[lineage_governance] approvals_signing_key is {signer.name}'s approver key; "
                            "the UI signs with a key of its own, listed in the policy's approvals.server_keys")
    return signer


def list_approvals(current, status: str) -> list[dict[str, Any]]:
    approvals = current.approvals
    if status not in ("pending", "approved", "denied", "expired", "all"):
        raise HTTPException(status_code=422, detail=f"status {status!r}: use pending, approved, denied, expired or all")
    approvals.expire()
    return [{**request.to_dict(), "statement": request.shown_statement} for request in approvals.store.list(None if status == "all" else status)]


def describe_policy(current) -> dict[str, Any]:
    loaded = current.policy
    policy = loaded.policy
    try:
        text = loaded.raw.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - the loader only accepts UTF-8
        text = ""
    return {
        "file": loaded.path,
        "version": loaded.version,
        "mode": policy.mode,
        "environment": current.settings.environment,
        "guardrails": [entry.model_dump(mode="json", exclude_none=True) for entry in policy.guardrails],
        "classified_tables": [entry.table for entry in policy.classifications],
        "approvers": [entry.model_dump(mode="json", exclude_none=True) for entry in policy.approvals.approvers],
        "approval_ttl_seconds": policy.approvals.ttl.total_seconds(),
        "approval_scope": policy.approvals.scope,
        "identity": policy.identity.model_dump(mode="json", exclude_none=True),
        "text": text,
    }


def ledger_records(current, dag_id=None, dag_run_id=None, task_id=None, run_id=None, limit: int = 100) -> list[dict[str, Any]]:
    """Ledger records of a DAG run or task (newest first), from the ledger the tasks write."""
    ledger = current.ledger
    if ledger is None:
        return []
    from lineage.record import Filters

    wanted = {key: value for key, value in (("dag_id", dag_id), ("dag_run_id", dag_run_id), ("task_id", task_id)) if value}
    out: list[dict[str, Any]] = []
    for entry in ledger.entries(Filters(run_id=run_id) if run_id else None):
        body = entry.body
        identity = body.get("identity") or {}
        attributes = identity.get("attributes") or {}
        if request_of(body) is not None:
            attributes = {**attributes, **_request_attributes(body)}
        if any(str(attributes.get(key)) != value for key, value in wanted.items()):
            continue
        out.append({"sequence": entry.seq, **body})
    out.reverse()
    return out[:limit]


def request_of(body: dict[str, Any]) -> dict[str, Any] | None:
    payload = body.get("payload") or {}
    return payload.get("request") if isinstance(payload, dict) else None


def _request_attributes(body: dict[str, Any]) -> dict[str, Any]:
    request = request_of(body) or {}
    dag_id, _, task_id = (request.get("job_name") or "").partition(".")
    return {"dag_id": dag_id, "task_id": task_id}


# -- the page ------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a202c}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border:1px solid #e2e8f0;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f7fafc}code,pre{font-family:ui-monospace,monospace;font-size:.8rem;white-space:pre-wrap}
.block{color:#c53030;font-weight:600}.require_approval{color:#b7791f;font-weight:600}.mask{color:#2b6cb0;font-weight:600}.warn{color:#975a16}
button{margin-right:.3rem}.muted{color:#718096}form.filter input{margin-right:.5rem}
"""

SCRIPT = """
async function decide(id, verdict) {
  const note = document.getElementById('note-' + id).value;
  const response = await fetch('api/approvals/' + encodeURIComponent(id) + '/' + verdict, {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({note: note})});
  const body = await response.json();
  document.getElementById('result-' + id).textContent =
    response.ok ? body.status + ' by ' + body.decided_by : (body.detail || response.statusText);
  if (response.ok) { setTimeout(() => location.reload(), 800); }
}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def render_page(user: str, policy: dict[str, Any], pending: list[dict[str, Any]], records: list[dict[str, Any]], filters: dict[str, str]) -> str:
    rows = []
    for request in pending:
        reasons = "; ".join(f"{r.get('rule')}: {r.get('message')}" for r in request.get("reasons", []))
        rid = _e(request["id"])
        rows.append(
            f"<tr><td><code>{rid}</code></td><td>{_e(request['job_namespace'])}/{_e(request['job_name'])}<br>"
            f"<span class=muted>run {_e(request['run_id'])}</span></td><td>{_e(request['requester'])}</td>"
            f"<td>{_e(request['environment'])}</td><td>{_e(reasons)}</td><td><code>{_e(request['statement'])}</code></td>"
            f"<td>{_e(request['expires_at'])}</td><td><input id='note-{rid}' placeholder='note'>"
            f"<button onclick=\"decide('{rid}','approve')\">Approve</button><button onclick=\"decide('{rid}','deny')\">Deny</button>"
            f"<div id='result-{rid}' class=muted></div></td></tr>"
        )
    approvals_html = (
        "<table><tr><th>request</th><th>job and run</th><th>requested by</th><th>env</th><th>why</th><th>statement (classified values as ?)</th><th>expires</th><th>decision</th></tr>"
        + "".join(rows) + "</table>"
        if rows else "<p class=muted>No pending approval requests.</p>"
    )
    ledger_rows = []
    for record in records:
        identity = record.get("identity") or {}
        attributes = identity.get("attributes") or {}
        if record.get("kind") == "statement":
            decision = record.get("decision") or {}
            action = decision.get("action", "")
            statement = record.get("statement") or {}
            what = f"<code>{_e(statement.get('sql'))}</code>"
            findings = "; ".join(f"{f.get('rule')}: {f.get('message')}" for f in decision.get("findings", []) if f.get("action") not in ("allow", None))
            detail = _e(findings) + (f"<br>masked: {_e(', '.join(record.get('masked_columns') or []))}" if record.get("masked_columns") else "")
            phase = record.get("phase", "")
            task = f"{_e(attributes.get('dag_id'))}.{_e(attributes.get('task_id'))}<br><span class=muted>try {_e(attributes.get('try_number'))}, run {_e(identity.get('run_id'))}</span>"
        else:
            action, phase = "", record.get("kind", "")
            request = request_of(record) or {}
            what = f"<code>{_e(request.get('id'))}</code> {_e(request.get('normalized_sql'))}"
            detail = _e(request.get("note") or "")
            task = f"{_e(request.get('job_name'))}<br><span class=muted>run {_e(request.get('run_id'))}</span>"
        ledger_rows.append(
            f"<tr><td>{_e(record.get('sequence'))}</td><td>{_e(record.get('time'))}</td><td>{_e(phase)}</td>"
            f"<td class='{_e(action)}'>{_e(action)}</td><td>{_e(identity.get('principal'))}</td>"
            f"<td>{task}</td><td>{what}</td><td>{_e(record.get('rows'))}</td><td>{detail}</td></tr>"
        )
    ledger_html = (
        "<table><tr><th>#</th><th>time</th><th>phase</th><th>decision</th><th>principal</th><th>task</th><th>statement (literals as ?)</th><th>rows</th><th>findings</th></tr>"
        + "".join(ledger_rows) + "</table>"
        if ledger_rows else "<p class=muted>No ledger records for this selection.</p>"
    )
    guardrails = "".join(
        f"<tr><td>{_e(g['rule'])}</td><td class='{_e(g['action'])}'>{_e(g['action'])}</td><td>{_e(', '.join(g.get('environments') or []) or 'all')}</td><td>{_e(', '.join(g.get('tables') or []) or 'all')}</td></tr>"
        for g in policy["guardrails"]
    )
    filter_inputs = "".join(
        f"<label>{name} <input name='{name}' value='{_e(value)}'></label>" for name, value in filters.items()
    )
    return f"""<!doctype html><html><head><meta charset=utf-8><title>Lineage governance</title><style>{STYLE}</style></head>
<body><h1>Lineage governance</h1>
<p class=muted>Signed in as <b>{_e(user)}</b>. Policy <code>{_e(policy['version'][:19])}</code> ({_e(policy['mode'])}) in environment <b>{_e(policy['environment'])}</b>.</p>
<h2>Pending approvals ({len(pending)})</h2>{approvals_html}
<h2>Ledger</h2><form class=filter method=get>{filter_inputs}<button type=submit>Show</button></form>{ledger_html}
<h2>Policy in force</h2>
<p>File <code>{_e(policy['file'])}</code>, version <code>{_e(policy['version'])}</code>, mode <b>{_e(policy['mode'])}</b>,
approvals expire after {int(policy['approval_ttl_seconds'])} s, approvers: <code>{_e(json.dumps(policy['approvers']))}</code></p>
<table><tr><th>rule</th><th>action</th><th>environments</th><th>tables</th></tr>{guardrails}</table>
<details><summary>policy file</summary><pre>{_e(policy['text'])}</pre></details>
<script>{SCRIPT}</script></body></html>"""
