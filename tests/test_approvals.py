"""Approvals: request, notify, approve/deny by a named approver, never by the requester, expiry."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import duckdb
import pytest

from lineage.approvals import APPROVED, DENIED, EXPIRED, PENDING, ApprovalError, Approvals, ApprovalStore
from lineage.engine import Engine
from lineage.governor import ApprovalRequired, ExecutionContext, Governor
from lineage.identity import RunIdentity
from lineage.notify import notifier_from_policy
from lineage.policy import load_policy_text

POLICY = load_policy_text(
    """
approvals:
  approvers: [{group: data-owners}, {principal: "lead@corp"}]
  ttl: 30m
  notify: {webhook_url_env: TEST_APPROVAL_WEBHOOK}
"""
)
SQL = "ALTER TABLE crm.orders DROP COLUMN amount"
REQUESTER = RunIdentity(principal="svc:etl", job_name="etl.cleanup", environment="prod")
OWNER = RunIdentity(principal="olga@corp", groups=("data-owners",))


class Recorder:
    def __init__(self):
        self.events = []

    def record_event(self, kind, identity, payload):
        self.events.append((kind, identity.principal, payload["request"]["status"]))


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def decision_for(sql=SQL, identity=REQUESTER):
    return Engine(POLICY).check(sql, identity)[0]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return ApprovalStore(f"sqlite:///{tmp_path / 'approvals.db'}")
    postgres = request.getfixturevalue("postgres")
    import psycopg

    name = f"approvals_{abs(hash(request.node.name)) % 10**8}"
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(f"drop database if exists {name}")
        connection.execute(f"create database {name}")
    return ApprovalStore(postgres.dsn_for(name))


def test_request_approve_and_reuse_in_the_same_run(store):
    ledger, clock = Recorder(), Clock()
    approvals = Approvals(POLICY, store, ledger=ledger, clock=clock)
    decision = decision_for()
    assert approvals.approval_for(decision, REQUESTER) is None
    request_id = approvals.request(decision, REQUESTER)
    assert approvals.request(decision, REQUESTER) == request_id  # asking again (reschedule) is the same request
    request = approvals.status(request_id)
    assert request.status == PENDING and request.requester == "svc:etl"
    assert request.normalized_sql == "ALTER TABLE crm.orders DROP COLUMN amount"
    assert request.reasons[0]["rule"] == "drop_column"
    approved = approvals.approve(request_id, OWNER, note="column unused since Q3")
    assert approved.status == APPROVED and approved.decided_by == "olga@corp"
    assert approvals.approval_for(decision, REQUESTER) == request_id
    # another run of the job needs the id presented explicitly
    other_run = REQUESTER.with_(run_id="0190a7f4-0000-7000-8000-000000000001")
    assert approvals.approval_for(decision, other_run) is None
    assert approvals.approval_for(decision, other_run.with_(attributes={"approval_ids": [request_id]})) == request_id
    # a different statement is not covered
    assert approvals.approval_for(decision_for("ALTER TABLE crm.orders DROP COLUMN status"), REQUESTER) is None
    assert [kind for kind, _, _ in ledger.events] == ["approval_requested", "approval_approved"]
    clock.now += timedelta(minutes=31)
    assert approvals.approval_for(decision, REQUESTER) is None  # approvals expire too


def test_who_may_decide(store):
    approvals = Approvals(POLICY, store)
    request_id = approvals.request(decision_for(), REQUESTER)
    with pytest.raises(ApprovalError, match="cannot decide on it"):
        approvals.approve(request_id, REQUESTER.with_(groups=("data-owners",)))
    with pytest.raises(ApprovalError, match="not an approver"):
        approvals.approve(request_id, RunIdentity(principal="mallory@corp", groups=("analysts",)))
    assert approvals.deny(request_id, RunIdentity(principal="lead@corp"), "not now").status == DENIED
    with pytest.raises(ApprovalError, match="denied, not pending"):
        approvals.approve(request_id, OWNER)
    with pytest.raises(ApprovalError, match="no approval request"):
        approvals.approve("apr-unknown", OWNER)


def test_requests_expire(store):
    ledger, clock = Recorder(), Clock()
    approvals = Approvals(POLICY, store, ledger=ledger, clock=clock)
    request_id = approvals.request(decision_for(), REQUESTER)
    clock.now += timedelta(minutes=30, seconds=1)
    assert approvals.status(request_id).status == EXPIRED
    with pytest.raises(ApprovalError, match="expired"):
        approvals.approve(request_id, OWNER)
    assert ledger.events[-1][0] == "approval_expired"


def test_racing_approvers_decide_once(tmp_path):
    store = ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}")
    approvals = Approvals(POLICY, store)
    request_id = approvals.request(decision_for(), REQUESTER)
    results = []

    def decide(verdict):
        try:
            results.append(getattr(Approvals(POLICY, ApprovalStore(store.url)), verdict)(request_id, OWNER).status)
        except ApprovalError as error:
            results.append(str(error))

    threads = [threading.Thread(target=decide, args=(verdict,)) for verdict in ("approve", "deny") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result in (APPROVED, DENIED) for result in results) == 1


def test_governor_holds_then_runs_once_approved(tmp_path):
    connection = duckdb.connect()
    connection.execute("create schema crm; create table crm.orders (id int, amount int)")
    approvals = Approvals(POLICY, ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}"))
    governor = Governor(Engine(POLICY, dialect="duckdb"), approvals=approvals)
    run = lambda sql: connection.execute(sql)
    with pytest.raises(ApprovalRequired) as held:
        governor.execute(SQL, REQUESTER, run, ExecutionContext("duckdb"))
    assert held.value.request_id and "lineage approvals approve" in str(held.value)
    assert [c[0] for c in connection.execute("describe crm.orders").fetchall()] == ["id", "amount"]
    approvals.approve(held.value.request_id, OWNER)
    outcome = governor.execute(SQL, REQUESTER, run, ExecutionContext("duckdb"))[0]
    assert outcome.approval_id == held.value.request_id
    assert [c[0] for c in connection.execute("describe crm.orders").fetchall()] == ["id"]


def test_webhook_notification_without_raw_literals(tmp_path, monkeypatch):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notifier = notifier_from_policy(POLICY, env={"TEST_APPROVAL_WEBHOOK": f"http://127.0.0.1:{server.server_port}/hook"})
        approvals = Approvals(POLICY, ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}"), notifier=notifier)
        sql = "UPDATE crm.orders SET amount = 0 WHERE 1 = 1 AND id = 4242"
        policy = load_policy_text("guardrails: [{rule: update_without_where, action: require_approval}]\n" + POLICY.raw.decode())
        decision = Engine(policy).check(sql, REQUESTER)[0]
        request_id = approvals.request(decision, REQUESTER)
        approvals.approve(request_id, OWNER)
    finally:
        server.shutdown()
    assert [message["event"] for message in received] == ["approval_requested", "approval_approved"]
    assert request_id in received[0]["text"] and "4242" not in json.dumps(received)


def test_a_dead_webhook_keeps_the_request(tmp_path):
    ledger = Recorder()
    notifier = notifier_from_policy(POLICY, env={"TEST_APPROVAL_WEBHOOK": "http://127.0.0.1:9/nothing-listens-here"})
    approvals = Approvals(POLICY, ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}"), ledger=ledger, notifier=notifier)
    request_id = approvals.request(decision_for(), REQUESTER)
    assert approvals.status(request_id).status == PENDING
    assert [kind for kind, _, _ in ledger.events] == ["approval_requested", "approval_notification_failed"]


def test_cli_list_approve_deny(cli, tmp_path, monkeypatch):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_bytes(POLICY.raw)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    approvals = Approvals(POLICY, ApprovalStore(url))
    request_id = approvals.request(decision_for(), REQUESTER)
    listed = cli("approvals", "list", "--approvals", url, "--policy", str(policy_file), "--format", "json")
    assert [r["id"] for r in listed.json()] == [request_id]
    refused = cli("approvals", "approve", request_id, "--approvals", url, "--policy", str(policy_file), "--principal", "svc:etl", "--group", "data-owners")
    assert refused.code == 1 and "cannot decide" in refused.out
    done = cli("approvals", "approve", request_id, "--approvals", url, "--policy", str(policy_file), "--principal", "olga@corp", "--group", "data-owners")
    assert done.code == 0 and "approved by olga@corp" in done.out
    assert ApprovalStore(url).get(request_id).status == APPROVED
