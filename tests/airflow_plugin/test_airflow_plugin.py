"""The Airflow plugin on real Airflow 3 (dag.test() in a temp AIRFLOW_HOME) and real DuckDB.

Blocked statements fail the task without retries and run nothing; held statements wait for an
approval without a worker slot (the task is rescheduled) and continue, fail when denied, or fail
when the request expires; a bad policy fails a task at start even when it runs no SQL.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from airflow_support import RAW_VALUES, columns, ledger_bodies, logged, query, seed, task_run_id  # noqa: F401

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy_for_airflow(airflow_home) -> Path:
    """The test policy as the plugin reads it: with the session's approver and UI keys."""
    return airflow_home.policy_file


@pytest.fixture
def warehouse(airflow_home):
    seed(airflow_home.warehouse)
    return airflow_home.warehouse


@pytest.fixture
def approvals_store(airflow_home):
    from lineage.approve.approvals import ApprovalStore

    return ApprovalStore(airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"])


def test_blocked_statement_fails_the_task_without_retries_and_runs_nothing(airflow_home, warehouse, capfd):
    run = airflow_home.test("lg_block")
    ti = run.get_task_instances()[0]
    assert str(ti.state) == "failed"
    assert ti.try_number == 1  # retries=3, yet no retry: AirflowFailException
    # decided before the first statement ran: the insert before the DROP did not run either
    assert query(warehouse, "select count(*) from raw.orders") == [(2,)]
    log = logged(capfd)
    assert "AirflowFailException: blocked by lineage-governance (drop_table: drops table warehouse.raw.orders)" in log
    assert "drop table raw.orders" in log and "ask the policy owners" in log
    records = ledger_bodies(airflow_home, "lg_block", run.run_id)
    assert [(r["phase"], r["statement"]["kind"], r["decision"]["action"]) for r in records] == [("refused", "drop_table", "block")]
    assert records[0]["identity"]["run_id"] == task_run_id(run, "drop_orders") and records[0]["identity"]["principal"] == "dag_test"


def test_blocked_hook_call_in_a_task_fails_at_the_hook(airflow_home, warehouse, capfd):
    run = airflow_home.test("lg_hook_block")
    ti = run.get_task_instances()[0]
    assert str(ti.state) == "failed" and ti.try_number == 1
    assert query(warehouse, "select count(*) from raw.orders where id = 98") == [(1,)]  # ran before the refusal
    assert columns(warehouse, "raw.orders")  # the table is still there
    assert "AirflowFailException: blocked by lineage-governance (drop_table: drops table warehouse.raw.orders)" in logged(capfd)


def approve_when_asked(store, verdict: str, key: Path, policy: Path, url: str, results: list, job: str = "lg_approval.drop_legacy_column") -> threading.Thread:
    """Another thread plays the approver: waits for the task's request, then decides through the CLI with its key."""
    import os

    ledger = os.environ["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"]

    def work():
        from lineage.cli import main

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = [request for request in store.list("pending") if request.job_name == job]
            if pending:
                code = main(["approvals", verdict, pending[0].id, "--policy", str(policy), "--approvals", url, "--ledger", ledger,
                             "--key", str(key), "--note", "checked"])
                results.append((pending[0].id, code))
                return
            time.sleep(0.1)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(120)
def test_approval_holds_the_task_until_approved_then_it_runs(airflow_home, warehouse, approvals_store, policy_for_airflow):
    results: list = []
    url = airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"]
    thread = approve_when_asked(approvals_store, "approve", airflow_home.keys.path("carol"), policy_for_airflow, url, results)
    run = airflow_home.test("lg_approval")
    thread.join(5)
    assert results and results[0][1] == 0
    request = approvals_store.get(results[0][0])
    assert request.status == "approved" and request.decided_by == "carol" and request.requester == "dag_test"
    assert str(run.get_task_instances()[0].state) == "success"
    assert columns(warehouse, "raw.scratch") == ["id"]
    # the insert before the held statement ran once, after the approval (nothing ran while waiting)
    assert query(warehouse, "select count(*) from raw.scratch") == [(2,)]
    # every step is a ledger record: held once (not once per check), the request, the approval, the run
    records = ledger_bodies(airflow_home, "lg_approval", run.run_id)
    steps = [(r["kind"], r.get("phase"), (r.get("decision") or {}).get("action")) for r in records]
    assert steps[:2] == [("approval_requested", None, None), ("statement", "refused", "require_approval")]
    assert steps[2:] == [("statement", "started", "allow"), ("statement", "finished", "allow"),
                         ("statement", "started", "require_approval"), ("statement", "finished", "require_approval")]
    assert records[1]["approval"] == {"request": request.id} and records[-1]["approval"]["id"] == request.id
    # the worker verified the signature and the ledger keeps it: approver, key id, signature, signed payload
    evidence = records[-2]["approval"]
    assert evidence["approver"] == "carol" and evidence["signer"] == "approver key carol" and evidence["key_id"].startswith("SHA256:")
    assert evidence["signed"]["run_id"] == records[-2]["identity"]["run_id"] and evidence["signed"]["statement"] == "ALTER TABLE raw.scratch DROP COLUMN note"
    decided = [entry for entry in ledger_bodies(airflow_home) if entry["kind"] == "approval_approved" and entry["payload"]["request"]["id"] == request.id]
    assert decided and decided[0]["identity"]["principal"] == "carol"


@pytest.mark.timeout(120)
def test_a_waiting_task_ignores_a_row_set_to_approved_in_the_store(airflow_home, warehouse, approvals_store, policy_for_airflow):
    """Anyone who can write the store (the pipeline itself) sets the request to approved: the task
    keeps waiting, asks again, and runs only after a signed approval."""
    url = airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"]
    job = "lg_approval.drop_legacy_column"
    seen: dict = {}

    def attacker_then_approver():
        from lineage.cli import main

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "forged" not in seen:
            pending = [r for r in approvals_store.list("pending") if r.job_name == job]
            if pending:
                with approvals_store._transaction() as cursor:
                    cursor.execute("update lineage_approvals set status = 'approved', decided_by = 'carol', valid_until = '2999-01-01T00:00:00.000+00:00' where id = ?", [pending[0].id])
                seen["forged"] = pending[0].id
            time.sleep(0.05)
        while time.monotonic() < deadline:
            again = [r for r in approvals_store.list("pending") if r.job_name == job and r.id != seen["forged"]]
            if again:
                seen["columns_while_waiting"] = columns(warehouse, "raw.scratch")
                seen["code"] = main(["approvals", "approve", again[0].id, "--policy", str(policy_for_airflow), "--approvals", url,
                                     "--ledger", airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"], "--key", str(airflow_home.keys.path("carol"))])
                seen["approved"] = again[0].id
                return
            time.sleep(0.05)

    thread = threading.Thread(target=attacker_then_approver, daemon=True)
    thread.start()
    run = airflow_home.test("lg_approval")
    thread.join(5)
    assert seen.get("forged") and seen.get("approved") and seen["approved"] != seen["forged"] and seen["code"] == 0
    assert seen["columns_while_waiting"] == ["id", "note"]  # the forged approval ran nothing
    assert str(run.get_task_instances()[0].state) == "success" and columns(warehouse, "raw.scratch") == ["id"]
    started = [r for r in ledger_bodies(airflow_home, "lg_approval", run.run_id) if r.get("phase") == "started" and r["decision"]["action"] == "require_approval"]
    assert [r["approval"]["id"] for r in started] == [seen["approved"]]


@pytest.mark.timeout(120)
def test_denied_approval_fails_the_task_and_runs_nothing(airflow_home, warehouse, approvals_store, policy_for_airflow):
    results: list = []
    url = airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"]
    thread = approve_when_asked(approvals_store, "deny", airflow_home.keys.path("carol"), policy_for_airflow, url, results)
    run = airflow_home.test("lg_approval")
    thread.join(5)
    assert approvals_store.get(results[0][0]).status == "denied"
    assert str(run.get_task_instances()[0].state) == "failed"
    assert columns(warehouse, "raw.scratch") == ["id", "note"]
    assert query(warehouse, "select count(*) from raw.scratch") == [(1,)]


@pytest.mark.timeout(120)
def test_unanswered_request_expires_and_fails_the_task(airflow_home, warehouse, approvals_store, tmp_path, monkeypatch):
    policy = tmp_path / "short.yaml"
    policy.write_text((ROOT / "tests" / "data" / "airflow_policy.yaml").read_text().replace("ttl: 2m", "ttl: 2s"))
    assert "ttl: 2s" in policy.read_text()
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE", str(policy))
    started = time.monotonic()
    run = airflow_home.test("lg_approval")
    assert str(run.get_task_instances()[0].state) == "failed"
    assert time.monotonic() - started >= 2
    expired = [request for request in approvals_store.list("expired") if request.job_name == "lg_approval.drop_legacy_column"]
    assert expired
    assert columns(warehouse, "raw.scratch") == ["id", "note"]


@pytest.mark.parametrize("problem", ["missing", "invalid"])
def test_bad_policy_fails_a_task_at_start_even_without_sql(airflow_home, tmp_path, monkeypatch, capfd, problem):
    policy = tmp_path / "policy.yaml"
    if problem == "invalid":
        policy.write_text("version: 1\nguardrails:\n  - {rule: drop_tabel, action: block}\n")
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE", str(policy))
    run = airflow_home.test("lg_quiet")
    ti = run.get_task_instances()[0]
    assert str(ti.state) == "failed"
    assert ti.try_number == 1
    log = logged(capfd)
    if problem == "invalid":
        assert f"{policy}:3: guardrails[0].rule: unknown rule 'drop_tabel'" in log
    else:
        assert f"{policy}: cannot read the policy file" in log


def test_disabled_plugin_lets_tasks_run(airflow_home, warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__ENABLED", "False")
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE", "/nonexistent/policy.yaml")
    run = airflow_home.test("lg_quiet")
    assert str(run.get_task_instances()[0].state) == "success"


def test_masked_read_writes_only_masked_values_into_the_target(airflow_home, warehouse):
    run = airflow_home.test("lg_mask")
    assert airflow_home.task_states(run) == {"build_contacts": "success", "read_with_hook": "success", "read_raw_connection": "success"}
    rows = query(warehouse, "select id, full_name, email, ssn, salary, birth_date, city from mart.customer_contacts order by id")
    assert [row[0] for row in rows] == [1, 2] and [row[6] for row in rows] == ["London", "Manchester"]
    assert [row[2] for row in rows] == ["*****@example.com", "*****@example.org"]
    assert [row[3] for row in rows] == ["*******6789", "*******4321"]
    assert [row[1] for row in rows] == ["Xxx Xxxxxxxx", "Xxxx Xxxxxx"]
    assert [row[4] for row in rows] == [None, None] and [str(row[5]) for row in rows] == ["1990-01-01", "1985-01-01"]
    stored = repr(query(warehouse, "select * from mart.customer_contacts"))
    assert not [value for value in RAW_VALUES if value in stored]
    # the hook in a @task: masked too, and a predicate on the masked column cannot find raw values
    assert airflow_home.xcom(run, "read_with_hook") == {
        "rows": [["*****@example.com", "*******6789", "London"], ["*****@example.org", "*******4321", "Manchester"]],
        "guessed": [],
    }
    # the ledger: every statement finished under the task's run id, masked columns named, no raw value
    records = ledger_bodies(airflow_home, "lg_mask", run.run_id)
    build = [r for r in records if r["identity"]["attributes"]["task_id"] == "build_contacts"]
    assert [(r["phase"], r["decision"]["action"]) for r in build] == [("started", "mask"), ("finished", "mask")]
    assert {r["identity"]["run_id"] for r in build} == {task_run_id(run, "build_contacts")}
    assert "warehouse.raw.customers.email" in build[-1]["masked_columns"] and build[-1]["tables"]["written"] == ["warehouse.mart.customer_contacts"]
    hook_records = [r for r in records if r["identity"]["attributes"]["task_id"] == "read_with_hook" and r["phase"] == "finished"]
    assert len(hook_records) == 2 and "ada@example.com" not in repr(hook_records) and "?" in hook_records[1]["statement"]["sql"]
    import json

    assert not [value for value in RAW_VALUES if value in json.dumps(records)]
    # a raw connection from hook.get_conn() and get_df over it: masked by lineage.adapters.dbapi's wrapper
    assert airflow_home.xcom(run, "read_raw_connection") == {
        "ssn": ["*******6789", "*******4321"], "names": ["Xxx Xxxxxxxx", "Xxxx Xxxxxx"], "wrapper": "GovernedConnection"}


def test_exempt_identity_reads_raw_but_cannot_write_it_outside_its_zone(airflow_home, warehouse, tmp_path, monkeypatch, capfd):
    policy = tmp_path / "exempt.yaml"
    policy.write_text((ROOT / "tests" / "data" / "airflow_policy.yaml").read_text().replace(
        "    - {principal: carol, groups: [data-owners]}", "    - {principal: carol, groups: [data-owners]}\n    - {principal: dag_test, groups: [privacy-officers]}"))
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE", str(policy))
    run = airflow_home.test("lg_mask")
    states = airflow_home.task_states(run)
    assert states["build_contacts"] == "failed"
    assert "pii_to_unapproved_zone" in logged(capfd)
    assert query(warehouse, "select count(*) from information_schema.tables where table_name = 'customer_contacts'") == [(0,)]


def test_bad_setting_fails_a_task_at_start(airflow_home, monkeypatch, capfd):
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__MODE", "sometimes")
    run = airflow_home.test("lg_quiet")
    assert str(run.get_task_instances()[0].state) == "failed"
    assert "[lineage_governance] mode: 'sometimes' is not one of enforce, audit" in logged(capfd)


@pytest.mark.timeout(120)
def test_approval_request_is_announced_to_the_webhook_of_an_airflow_connection(airflow_home, warehouse, approvals_store, policy_for_airflow, monkeypatch):
    """[lineage_governance] notify_conn_id names an Airflow connection; its webhook gets the request."""
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/approvals"
        monkeypatch.setenv("AIRFLOW_CONN_APPROVAL_WEBHOOK", json.dumps({"conn_type": "http", "extra": {"webhook_url": url}}))
        monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__NOTIFY_CONN_ID", "approval_webhook")
        results: list = []
        thread = approve_when_asked(approvals_store, "approve", airflow_home.keys.path("carol"), policy_for_airflow,
                                    airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"], results)
        run = airflow_home.test("lg_approval")
        thread.join(5)
    finally:
        server.shutdown()
    assert str(run.get_task_instances()[0].state) == "success"
    requested = [body for path, body in received if path == "/approvals" and body["event"] == "approval_requested"]
    assert len(requested) == 1 and requested[0]["request"]["id"] == results[0][0]
    assert "alter table raw.scratch drop column note" in requested[0]["text"].lower() and requested[0]["request"]["requester"] == "dag_test"


def test_audit_mode_runs_everything_and_records_what_would_have_happened(airflow_home, warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__MODE", "audit")
    run = airflow_home.test("lg_block")
    assert str(run.get_task_instances()[0].state) == "success"
    assert query(warehouse, "select count(*) from information_schema.tables where table_name = 'orders'") == [(0,)]
    records = [r for r in ledger_bodies(airflow_home, "lg_block", run.run_id) if r["phase"] == "finished"]
    assert [(r["statement"]["kind"], r["decision"]["action"], r["decision"]["effective_action"], r["decision"]["mode"]) for r in records] == [
        ("insert", "allow", "allow", "audit"), ("drop_table", "block", "allow", "audit")]
