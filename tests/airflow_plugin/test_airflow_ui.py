"""The plugin's UI inside Airflow's real API server app (FastAPI TestClient, real approvals store).

The approver is the logged-in Airflow user (a JWT from Airflow's own auth manager); the policy
decides who may approve; nobody approves their own request. A task waiting for an approval
continues when an approver approves it through this API from another thread.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from airflow_support import columns, query, seed

pytestmark = pytest.mark.airflow

PREFIX = "/lineage-governance"


@pytest.fixture(scope="module")
def api(airflow_home):
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app

    return TestClient(create_app("core"))


def token(name: str, role: str = "admin") -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=name, role=role))


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"}


@pytest.fixture
def pending_request(airflow_home):
    """A real request, as a task asks it: the engine's decision, the task's identity."""
    from airflow_plugin.runtime import runtime
    from lineage.decide.catalog import Catalog
    from lineage.decide.engine import Engine
    from lineage.identity.run_identity import RunIdentity

    current = runtime()
    engine = Engine(current.policy, Catalog(dialect="duckdb"), dialect="duckdb")
    identity = RunIdentity(principal="dag_test", environment="prod", source="airflow", job_namespace="airflow-test",
                           job_name="ui_fixture.task", attributes={"dag_id": "ui_fixture", "task_id": "task"})
    decision = engine.check("alter table raw.scratch drop column note", identity)[0]
    return current.approvals.request(decision, identity)


def test_routes_need_a_logged_in_user(api):
    assert api.get(f"{PREFIX}/api/approvals").status_code == 401
    assert api.get(f"{PREFIX}/").status_code == 401


def test_policy_in_force_with_its_version(api, airflow_home):
    from lineage.policy import load_policy

    body = api.get(f"{PREFIX}/api/policy", headers=as_user("carol")).json()
    expected = load_policy(airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE"])
    assert body["version"] == expected.version and body["mode"] == "enforce" and body["environment"] == "prod"
    assert {"rule": "drop_table", "action": "block", "environments": ["prod"]} in body["guardrails"]
    assert body["approvers"] == [{"group": "data-owners"}] and body["approval_scope"] == "run"


@pytest.fixture
def carols_request(airflow_home):
    """A request carol's own manual run asked (carol is in data-owners)."""
    from airflow_plugin.runtime import runtime
    from lineage.decide.catalog import Catalog
    from lineage.decide.engine import Engine
    from lineage.identity.run_identity import RunIdentity

    current = runtime()
    identity = RunIdentity(principal="carol", environment="prod", source="airflow", job_namespace="airflow-test", job_name="ui_fixture.carol")
    decision = Engine(current.policy, Catalog(dialect="duckdb"), dialect="duckdb").check("alter table raw.scratch drop column note", identity)[0]
    return current.approvals.request(decision, identity)


@pytest.mark.parametrize("account, why", [("CAROL", "cannot decide on it"), ("ＣＡＲＯＬ", "cannot decide on it"),
                                           ("c\u0430rol", "mixes letters of the CYRILLIC and LATIN scripts")])
def test_the_requester_under_another_spelling_cannot_approve(api, carols_request, account, why):
    refused = api.post(f"{PREFIX}/api/approvals/{carols_request}/approve", headers=as_user(account), json={})
    assert refused.status_code == 403 and why in refused.json()["detail"]


def test_a_cross_site_form_post_with_the_session_cookie_is_refused(api, pending_request):
    from lineage.approve.approvals import ApprovalStore
    import os

    cookie = {"_token": token("carol")}
    form = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", cookies=cookie, data={"note": "csrf"},
                    headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert form.status_code == 415
    # a text/plain form can carry a JSON-looking body; it is refused too
    plain = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", cookies=cookie, content='{"note": "x"}',
                     headers={"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"})
    assert plain.status_code == 415
    # JSON from another site (a permissive CORS setup would let it through): refused by the browser's own word
    cross = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", cookies=cookie, json={}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "another site" in cross.json()["detail"]
    assert ApprovalStore(os.environ["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"]).get(pending_request).status == "pending"
    # the page's own request (same origin, JSON, the cookie) works
    same = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", cookies=cookie, json={"note": "from the page"}, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["status"] == "approved"


def test_approve_and_deny_as_the_logged_in_user(api, pending_request):
    listed = api.get(f"{PREFIX}/api/approvals", headers=as_user("carol")).json()
    assert pending_request in [request["id"] for request in listed]
    own = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", headers=as_user("dag_test"), json={})
    assert own.status_code == 403 and "cannot decide on it" in own.json()["detail"]
    stranger = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", headers=as_user("mallory"), json={})
    assert stranger.status_code == 403 and "not an approver" in stranger.json()["detail"]
    approved = api.post(f"{PREFIX}/api/approvals/{pending_request}/approve", headers=as_user("carol"), json={"note": "ok for release 4"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "carol" and approved.json()["note"] == "ok for release 4"
    signed = approved.json()["signature"]
    assert signed["payload"]["approver"] == "carol" and signed["payload"]["signer"]["kind"] == "server" and signed["payload"]["signer"]["name"] == "airflow-ui"
    again = api.post(f"{PREFIX}/api/approvals/{pending_request}/deny", headers=as_user("carol"), json={})
    assert again.status_code == 403 and "not pending" in again.json()["detail"]
    assert api.post(f"{PREFIX}/api/approvals/apr-nope/deny", headers=as_user("carol"), json={}).status_code == 404


def test_page_shows_pending_requests_and_the_policy(api, pending_request):
    page = api.get(f"{PREFIX}/", headers=as_user("carol"))
    assert page.status_code == 200
    assert "Signed in as <b>carol</b>" in page.text
    assert pending_request in page.text and "drop_column" in page.text and "Approve" in page.text
    assert "Policy in force" in page.text and "drop_table" in page.text


@pytest.mark.timeout(120)
def test_a_waiting_task_continues_when_approved_through_the_ui(api, airflow_home):
    seed(airflow_home.warehouse)
    from lineage.approve.approvals import ApprovalStore

    store = ApprovalStore(airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"])
    decided: list = []

    def approver():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            mine = [r for r in store.list("pending") if r.job_name == "lg_approval.drop_legacy_column"]
            if mine:
                response = api.post(f"{PREFIX}/api/approvals/{mine[0].id}/approve", headers=as_user("carol"), json={"note": "via UI"})
                decided.append(response.json())
                return
            time.sleep(0.1)

    thread = threading.Thread(target=approver, daemon=True)
    thread.start()
    run = airflow_home.test("lg_approval")
    thread.join(5)
    assert decided and decided[0]["status"] == "approved" and decided[0]["decided_by"] == "carol"
    assert str(run.get_task_instances()[0].state) == "success"
    assert columns(airflow_home.warehouse, "raw.scratch") == ["id"]
    assert query(airflow_home.warehouse, "select count(*) from raw.scratch") == [(2,)]
    # the ledger of that DAG run, newest first, as the run's "Governance" tab shows it
    records = api.get(f"{PREFIX}/api/ledger", params={"dag_id": "lg_approval", "dag_run_id": run.run_id}, headers=as_user("carol")).json()
    phases = [(r["kind"], r.get("phase")) for r in reversed(records) if r["kind"] != "session"]  # not the plugin's catalog reads
    assert phases[0] == ("approval_requested", None) and phases[1] == ("statement", "refused") and phases[-1] == ("statement", "finished")
    assert records[0]["approval"]["id"] == decided[0]["id"]
    # the task verified the UI's signature for carol; the ledger keeps it
    assert records[0]["approval"]["signer"] == "server key airflow-ui" and records[0]["approval"]["approver"] == "carol"
    page = api.get(f"{PREFIX}/", params={"dag_id": "lg_approval", "dag_run_id": run.run_id}, headers=as_user("carol")).text
    assert "alter table raw.scratch drop column note" in page.lower() and "require_approval" in page


def test_plugin_loads_through_its_entry_point(airflow_home):
    import json
    import os

    env = {**os.environ, **airflow_home.env}
    result = subprocess.run([sys.executable, "-m", "airflow", "plugins", "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    ours = plugins["lineage_governance"]
    assert "EntryPoint(name='lineage_governance', value='airflow_plugin.plugin:LineageGovernancePlugin', group='airflow.plugins')" in ours["source"]
    assert ours["listeners"] == ["airflow_plugin.listener"]
    assert ours["fastapi_apps"][0]["url_prefix"] == PREFIX
    assert any(view["destination"] == "nav" for view in ours["external_views"])
