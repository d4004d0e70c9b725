"""The example DAGs on a real Airflow 3 deployment with LocalExecutor: API server, scheduler, DAG
processor and triggerer as separate processes on a PostgreSQL metadata database, tasks in
supervised subprocesses talking to the task execution API; runs triggered and watched through the
REST API; approvals decided through the plugin's UI API by a logged-in approver while the task
waits (``up_for_reschedule``) in the real scheduler."""

from __future__ import annotations

import time

import pytest

from .deployment_helpers import EXAMPLES, HERE, NAMESPACE, contract_problems, deploy, distinct, pending_request, statement_events, task_run_id

pytestmark = [pytest.mark.deployment, pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

PIPELINE = "governed_pipeline"
RAW_EMAILS = ("ada@example.com", "alan@example.org", "grace@example.net")
MASKED_EMAILS = ["*****@example.com", "*****@example.org", "*****@example.net"]


def is_drop_column(record) -> bool:
    return record["statement"]["kind"] == "alter_table" and "DROP COLUMN" in record["statement"]["sql"].upper()


@pytest.fixture(scope="module")
def local(deployment_postgres, lineage_backend, metadata_template):
    dags = [EXAMPLES / "governed_pipeline.py", EXAMPLES / "blocked_drop.py", EXAMPLES / "sql", HERE / "dags" / "lg_settings.py"]
    with deploy("local", "LocalExecutor", deployment_postgres, lineage_backend, metadata_template, dags, parallelism=8) as deployed:
        deployed.api().wait_for_dags([PIPELINE, "blocked_drop", "lg_settings"])
        yield deployed


@pytest.mark.timeout(900)
def test_the_plugin_is_loaded_and_its_ui_needs_a_login(local):
    import httpx

    admin = local.api("admin")
    plugins = {plugin["name"]: plugin for plugin in admin.get("/api/v2/plugins")["plugins"]}
    ours = plugins["lineage_governance"]
    assert ours["listeners"] == ["airflow_plugin.listener"]
    assert any(app["url_prefix"] == "/lineage-governance" for app in ours["fastapi_apps"])
    # the UI inside the real API server: no session, no access
    assert httpx.get(f"{local.deployment.api_url}/lineage-governance/api/approvals", timeout=30).status_code == 401
    from lineage.policy import load_policy

    policy = local.api("demo-approver").get("/lineage-governance/api/policy")
    assert policy["version"] == load_policy(local.policy).version and policy["environment"] == "prod"


@pytest.mark.timeout(900)
def test_only_the_api_server_holds_the_ui_signing_key(local):
    # the scheduler runs the tasks (LocalExecutor): pipeline code that held the key could sign its own approval
    assert local.signing_key_holders() == ["api-server"]
    seen = local.task_sees()
    assert seen == {"approvals_signing_key": None, "variables": [], "policy_file": str(local.policy)}


@pytest.mark.timeout(900)
def test_example_pipeline_masks_the_mart_and_an_approver_approves_while_the_task_waits(local):
    admin, approver, mallory = local.api("admin"), local.api("demo-approver"), local.api("mallory")
    run_id = admin.trigger(PIPELINE)
    request = pending_request(approver, PIPELINE, run_id, "drop_legacy_code")
    waiting = admin.wait_for_task(PIPELINE, run_id, "drop_legacy_code", ["up_for_reschedule"])
    assert request["requester"] == "admin" and request["job_name"] == f"{PIPELINE}.drop_legacy_code"
    # an Airflow admin who is not in the policy's approvers cannot approve; the requester neither
    refused = mallory.post(f"/lineage-governance/api/approvals/{request['id']}/approve", {"note": "me too"})
    assert refused.status_code == 403 and "not an approver" in refused.json()["detail"]
    own = admin.post(f"/lineage-governance/api/approvals/{request['id']}/approve", {})
    assert own.status_code == 403 and "cannot decide on it" in own.json()["detail"]
    approved = approver.post(f"/lineage-governance/api/approvals/{request['id']}/approve", {"note": "release 4"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "demo-approver"

    assert admin.wait_for_run(PIPELINE, run_id) == "success", admin.states(PIPELINE, run_id)
    tis = admin.task_instances(PIPELINE, run_id)
    assert {task: ti["state"] for task, ti in tis.items()} == dict.fromkeys(("seed", "customer_orders", "city_report", "drop_legacy_code"), "success")
    assert tis["drop_legacy_code"]["try_number"] == waiting["try_number"] == 1  # rescheduled, not retried
    # the ALTER ran once approved; the mart and the hook's reads came back masked
    assert "legacy_code" not in local.columns("raw", "customers")
    mart = local.warehouse("select customer_id, email, city, order_count from mart.customer_orders order by customer_id")
    assert [row[1] for row in mart] == MASKED_EMAILS and [row[2] for row in mart] == ["London", "Manchester", "London"]
    report = admin.xcom(PIPELINE, run_id, "city_report")
    assert report == {"revenue_by_city": [["London", 165.4], ["Manchester", 12.0]], "emails": MASKED_EMAILS}
    assert not [email for email in RAW_EMAILS if email in repr(mart) + repr(report)]

    # the ledger: every statement of the run under its task's identity and try, the approval steps, one chain
    dag_run = admin.dag_run(PIPELINE, run_id)
    records = local.ledger(PIPELINE, run_id)
    statements = [r for r in records if r["kind"] == "statement"]
    for record in statements:
        attributes = record["identity"]["attributes"]
        assert record["identity"]["run_id"] == task_run_id(PIPELINE, attributes["task_id"], 1, dag_run)
        assert attributes["try_number"] == 1 and record["identity"]["principal"] == "admin"
    alter = [(r["phase"], r["decision"]["action"]) for r in statements if is_drop_column(r)]
    assert alter == [("refused", "require_approval"), ("started", "require_approval"), ("finished", "require_approval")]
    steps = [r["kind"] for r in local.ledger() if ((r.get("payload") or {}).get("request") or {}).get("id") == request["id"]]
    assert steps[0] == "approval_requested" and "approval_approved" in steps
    masked = [r for r in statements if r["phase"] == "finished" and r["masked_columns"]]
    assert {r["identity"]["attributes"]["task_id"] for r in masked} == {"customer_orders", "city_report"}
    assert local.verify_ledger().ok

    # the events: each finished statement a run under its task's run, as the lineage backend got them
    deadline = time.monotonic() + 120
    while True:
        events = local.events()
        missing = {
            task: len([r for r in statements if r["phase"] == "finished" and r["identity"]["attributes"]["task_id"] == task])
            - len([e for e in distinct(statement_events(events, task_run_id(PIPELINE, task, 1, dag_run))) if e["eventType"] == "COMPLETE"])
            for task in tis
        }
        if not any(missing.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not any(missing.values()), f"statement runs missing at the lineage backend, per task: {missing}"
    ours = [e for task in tis for e in statement_events(events, task_run_id(PIPELINE, task, 1, dag_run))]
    assert all(e["job"]["namespace"] == NAMESPACE and e["job"]["name"].startswith(f"{PIPELINE}.") for e in ours)
    assert contract_problems(ours) == []
    assert local.rejected() == []  # the backend took every event, the provider's included
    # the OpenLineage provider's task runs carry the same run ids, with our identity facet
    provider = {e["run"]["runId"]: e for e in events if e["job"]["name"] in {f"{PIPELINE}.{task}" for task in tis} and e["eventType"] == "COMPLETE"}
    for task in tis:
        assert provider[task_run_id(PIPELINE, task, 1, dag_run)]["run"]["facets"]["lineageGovernance_identity"]["principal"] == "admin"


@pytest.mark.timeout(900)
def test_example_drop_table_is_blocked_without_retries(local):
    local.warehouse("create schema if not exists raw; create table if not exists raw.orders (id integer); insert into raw.orders (id) values (1)")
    before = local.warehouse("select count(*) from raw.orders")
    admin = local.api("admin")
    run_id = admin.trigger("blocked_drop")
    assert admin.wait_for_run("blocked_drop", run_id) == "failed"
    ti = admin.task_instances("blocked_drop", run_id)["drop_orders"]
    assert ti["state"] == "failed" and ti["try_number"] == 1 and ti["max_tries"] == 2  # retries=2, none used
    assert local.warehouse("select count(*) from raw.orders") == before
    records = [r for r in local.ledger("blocked_drop", run_id) if r["kind"] == "statement"]
    assert [(r["phase"], r["decision"]["action"]) for r in records] == [("refused", "block")]
    assert "drop_table" in admin.task_log("blocked_drop", run_id, "drop_orders", 1)


@pytest.mark.timeout(900)
def test_one_request_denied_and_one_left_to_expire(local):
    admin, approver = local.api("admin"), local.api("demo-approver")
    denied_run = admin.trigger(PIPELINE)
    expiring_run = admin.trigger(PIPELINE)
    to_deny = pending_request(approver, PIPELINE, denied_run, "drop_legacy_code")
    admin.wait_for_task(PIPELINE, denied_run, "drop_legacy_code", ["up_for_reschedule"])
    response = approver.post(f"/lineage-governance/api/approvals/{to_deny['id']}/deny", {"note": "not before the audit"})
    assert response.status_code == 200 and response.json()["status"] == "denied", response.text
    to_expire = pending_request(approver, PIPELINE, expiring_run, "drop_legacy_code")
    assert to_expire["id"] != to_deny["id"]

    assert admin.wait_for_run(PIPELINE, denied_run) == "failed"
    assert admin.wait_for_run(PIPELINE, expiring_run, timeout=420) == "failed"
    for run_id in (denied_run, expiring_run):
        states = admin.states(PIPELINE, run_id)
        assert states == {"seed": "success", "customer_orders": "success", "city_report": "success", "drop_legacy_code": "failed"}
        assert admin.task_instances(PIPELINE, run_id)["drop_legacy_code"]["try_number"] == 1
    decided = {r["id"]: r for r in approver.get("/lineage-governance/api/approvals", status="all")}
    assert decided[to_deny["id"]]["status"] == "denied" and decided[to_deny["id"]]["decided_by"] == "demo-approver"
    assert decided[to_expire["id"]]["status"] == "expired" and decided[to_expire["id"]]["decided_by"] is None
    assert "legacy_code" in local.columns("raw", "customers")  # neither ALTER ran
    for run_id in (denied_run, expiring_run):
        alter = [r["phase"] for r in local.ledger(PIPELINE, run_id) if r["kind"] == "statement" and is_drop_column(r)]
        assert alter == ["refused"]  # refused once, not at every check; never started
    assert "denied by demo-approver" in admin.task_log(PIPELINE, denied_run, "drop_legacy_code", 1)
    assert "expired" in admin.task_log(PIPELINE, expiring_run, "drop_legacy_code", 1)
    assert local.verify_ledger().ok
