"""Approvals: request, notify, approve/deny by a named approver, never by the requester, expiry;
signed approvals verified by the worker, bound to the exact statement, environment, principal, job and run."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import duckdb
import pytest

from lineage.approve.verify import signer_for
from lineage.approve.approvals import APPROVED, DENIED, EXPIRED, PENDING, ApprovalError, Approvals, ApprovalStore
from lineage.decide.engine import Engine
from lineage.governor import ApprovalRequired, ExecutionContext, Governor
from lineage.identity.run_identity import RunIdentity
from lineage.approve.notify import notifier_from_policy
from lineage.policy import load_policy_text
from lineage.approve.approver_keys import ApproverKeys

POLICY_TEXT = """
approvals:
  approvers: [{group: data-owners}, {principal: "lead@corp"}]
  ttl: 30m
  notify: {webhook_url_env: TEST_APPROVAL_WEBHOOK}
identity:
  groups:
    - {principal: olga@corp, groups: [data-owners]}
    - {principal: alice@corp, groups: [data-owners]}
"""
# approvers sign with their own keys; svc:etl (the requester) and mallory hold keys too
SIGNERS = ("olga@corp", "lead@corp", "mallory@corp", "svc:etl", "alice@corp", "ALICE@corp", "ui")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ApproverKeys(tmp_path_factory.mktemp("approver-keys"))


def keyed(keys, text=POLICY_TEXT, servers=("ui",)):
    return load_policy_text(keys.policy_text(text, [name for name in SIGNERS if name not in servers], servers))


@pytest.fixture(scope="module")
def policy(keys):
    return keyed(keys)


def signer(policy, keys, name, user=None, groups=()):
    return signer_for(policy.policy.approvals, keys.key(name), user=user, groups=groups)


SQL = "ALTER TABLE crm.orders DROP COLUMN amount"
REQUESTER = RunIdentity(principal="svc:etl", job_name="etl.cleanup", environment="prod")


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


def decision_for(policy, sql=SQL, identity=REQUESTER, dialect="postgres"):
    return Engine(policy, dialect=dialect).check(sql, identity)[0]


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


def test_request_approve_and_reuse_in_the_same_run(store, policy, keys):
    ledger, clock = Recorder(), Clock()
    approvals = Approvals(policy, store, ledger=ledger, clock=clock)
    decision = decision_for(policy)
    assert approvals.approval_for(decision, REQUESTER) is None
    request_id = approvals.request(decision, REQUESTER)
    assert approvals.request(decision, REQUESTER) == request_id  # asking again (reschedule) is the same request
    request = approvals.status(request_id)
    assert request.status == PENDING and request.requester == "svc:etl"
    assert request.statement == "ALTER TABLE crm.orders DROP COLUMN amount"
    assert request.reasons[0]["rule"] == "drop_column"
    approved = approvals.approve(request_id, signer(policy, keys, "olga@corp"), note="column unused since Q3")
    assert approved.status == APPROVED and approved.decided_by == "olga@corp"
    assert approvals.approval_for(decision, REQUESTER) == request_id
    assert approvals.approver(request_id) == "olga@corp" and approvals.evidence(request_id)["approver"] == "olga@corp"
    # another run of the job: not covered (scope run), unless it continues the run that asked (--approval ID)
    other_run = REQUESTER.with_(run_id="0190a7f4-0000-7000-8000-000000000001")
    assert approvals.approval_for(decision, other_run) is None
    continued, notes = approvals.continuing(other_run, [request_id])
    assert notes == [] and continued.run_id == REQUESTER.run_id
    assert approvals.approval_for(decision, continued) == request_id
    # a different statement is not covered
    assert approvals.approval_for(decision_for(policy, "ALTER TABLE crm.orders DROP COLUMN status"), REQUESTER) is None
    assert [kind for kind, _, _ in ledger.events] == ["approval_requested", "approval_approved"]
    clock.now += timedelta(minutes=31)
    assert approvals.approval_for(decision, REQUESTER) is None  # approvals expire too


def test_who_may_decide(store, policy, keys):
    approvals = Approvals(policy, store)
    request_id = approvals.request(decision_for(policy), REQUESTER)
    with pytest.raises(ApprovalError, match="cannot decide on it"):
        approvals.approve(request_id, signer(policy, keys, "svc:etl"))
    with pytest.raises(ApprovalError, match="not an approver"):
        approvals.approve(request_id, signer(policy, keys, "mallory@corp"))
    assert approvals.deny(request_id, signer(policy, keys, "lead@corp"), "not now").status == DENIED
    with pytest.raises(ApprovalError, match="denied, not pending"):
        approvals.approve(request_id, signer(policy, keys, "olga@corp"))
    with pytest.raises(ApprovalError, match="no approval request"):
        approvals.approve("apr-unknown", signer(policy, keys, "olga@corp"))


def test_requests_expire(store, policy, keys):
    ledger, clock = Recorder(), Clock()
    approvals = Approvals(policy, store, ledger=ledger, clock=clock)
    request_id = approvals.request(decision_for(policy), REQUESTER)
    clock.now += timedelta(minutes=30, seconds=1)
    assert approvals.status(request_id).status == EXPIRED
    with pytest.raises(ApprovalError, match="expired"):
        approvals.approve(request_id, signer(policy, keys, "olga@corp"))
    assert ledger.events[-1][0] == "approval_expired"


def test_racing_approvers_decide_once(tmp_path, policy, keys):
    store = ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}")
    approvals = Approvals(policy, store)
    request_id = approvals.request(decision_for(policy), REQUESTER)
    olga = signer(policy, keys, "olga@corp")
    results = []

    def decide(verdict):
        try:
            results.append(getattr(Approvals(policy, ApprovalStore(store.url)), verdict)(request_id, olga).status)
        except ApprovalError as error:
            results.append(str(error))

    threads = [threading.Thread(target=decide, args=(verdict,)) for verdict in ("approve", "deny") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result in (APPROVED, DENIED) for result in results) == 1


def test_governor_holds_then_runs_once_approved(tmp_path, policy, keys):
    connection = duckdb.connect()
    connection.execute("create schema crm; create table crm.orders (id int, amount int)")
    approvals = Approvals(policy, ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}"))
    governor = Governor(Engine(policy, dialect="duckdb"), approvals=approvals)
    run = lambda sql: connection.execute(sql)
    with pytest.raises(ApprovalRequired) as held:
        governor.execute(SQL, REQUESTER, run, ExecutionContext("duckdb"))
    assert held.value.request_id and "lineage approvals approve" in str(held.value)
    assert [c[0] for c in connection.execute("describe crm.orders").fetchall()] == ["id", "amount"]
    approvals.approve(held.value.request_id, signer(policy, keys, "olga@corp"))
    outcome = governor.execute(SQL, REQUESTER, run, ExecutionContext("duckdb"))[0]
    assert outcome.approval_id == held.value.request_id and outcome.extra["approver"] == "olga@corp"
    assert [c[0] for c in connection.execute("describe crm.orders").fetchall()] == ["id"]


def test_webhook_notification_without_classified_literals(tmp_path, policy, keys):
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
        classified = keyed(keys, "guardrails: [{rule: update_without_where, action: require_approval}]\n"
                                 "classifications: [{table: crm.orders, columns: {customer_ssn: pii.ssn}}]\n" + POLICY_TEXT)
        notifier = notifier_from_policy(classified, env={"TEST_APPROVAL_WEBHOOK": f"http://127.0.0.1:{server.server_port}/hook"})
        approvals = Approvals(classified, ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}"), notifier=notifier)
        sql = "UPDATE crm.orders SET amount = 0 WHERE 1 = 1 AND customer_ssn = '123-45-6789' AND id = 4242"
        decision = Engine(classified).check(sql, REQUESTER)[0]
        request_id = approvals.request(decision, REQUESTER)
        approvals.approve(request_id, signer(classified, keys, "olga@corp"))
    finally:
        server.shutdown()
    assert [message["event"] for message in received] == ["approval_requested", "approval_approved"]
    assert request_id in received[0]["text"] and "123-45-6789" not in json.dumps(received)
    # the approver sees every other literal: what they approve is what runs
    assert "UPDATE crm.orders SET amount = 0 WHERE 1 = 1 AND customer_ssn = ? AND id = 4242" in received[0]["text"]


def test_a_dead_webhook_keeps_the_request(tmp_path, policy):
    ledger = Recorder()
    notifier = notifier_from_policy(policy, env={"TEST_APPROVAL_WEBHOOK": "http://127.0.0.1:9/nothing-listens-here"})
    approvals = Approvals(policy, ApprovalStore(f"sqlite:///{tmp_path / 'a.db'}"), ledger=ledger, notifier=notifier)
    request_id = approvals.request(decision_for(policy), REQUESTER)
    assert approvals.status(request_id).status == PENDING
    assert [kind for kind, _, _ in ledger.events] == ["approval_requested", "approval_notification_failed"]


def test_cli_list_approve_deny(cli, tmp_path, policy, keys):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_bytes(policy.raw)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    approvals = Approvals(policy, ApprovalStore(url))
    request_id = approvals.request(decision_for(policy), REQUESTER)
    listed = cli("approvals", "list", "--approvals", url, "--policy", str(policy_file), "--format", "json")
    assert [r["id"] for r in listed.json()] == [request_id]
    refused = cli("approvals", "approve", request_id, "--approvals", url, "--policy", str(policy_file), "--key", str(keys.path("svc:etl")))
    assert refused.code == 1 and "cannot decide" in refused.out
    done = cli("approvals", "approve", request_id, "--approvals", url, "--policy", str(policy_file), "--key", str(keys.path("olga@corp")))
    assert done.code == 0 and "approved by olga@corp" in done.out and "ALTER TABLE crm.orders DROP COLUMN amount" in done.out
    assert ApprovalStore(url).get(request_id).status == APPROVED


def test_keygen_prints_the_policy_entry_that_lets_its_key_approve(cli, tmp_path):
    import yaml

    made = cli("approvals", "keygen", "--principal", "olga@corp", "--out", str(tmp_path / "olga.key"))
    assert made.code == 0 and (tmp_path / "olga.key").stat().st_mode & 0o777 == 0o600
    entry = yaml.safe_load(made.out.split("keys:\n", 1)[1])[0]
    again = cli("approvals", "keygen", "--principal", "olga@corp", "--out", str(tmp_path / "olga.key"))
    assert again.code == 2 and "never overwrites" in again.err
    policy_file = tmp_path / "policy.yaml"
    text = POLICY_TEXT.replace("  ttl: 30m\n", f"  ttl: 30m\n  keys: [{{principal: '{entry['principal']}', public_key: '{entry['public_key']}'}}]\n")
    policy_file.write_text(text)
    policy = load_policy_text(text)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    request_id = Approvals(policy, ApprovalStore(url)).request(decision_for(policy), REQUESTER)
    done = cli("approvals", "approve", request_id, "--approvals", url, "--policy", str(policy_file), "--key", str(tmp_path / "olga.key"))
    assert done.code == 0 and "approved by olga@corp" in done.out
    assert Approvals(policy, ApprovalStore(url)).approval_for(decision_for(policy), REQUESTER) == request_id
