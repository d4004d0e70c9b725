"""Approvals against an attacker: forged and replayed store rows, case and look-alike names,
approvals presented in another environment, for another principal, job or run.

The worker verifies every approval itself (a signature by a key the policy trusts, for this very
statement and run); the store's ``status`` column proves nothing. Each test plays the attack on
the SQLite and the PostgreSQL store and checks that the statement did not run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from lineage.approve.keys import generate, public_text, sign
from lineage.approve.verify import Rejected, signed_payload, signed_record, signer_for
from lineage.approve.approvals import ApprovalError, Approvals, ApprovalStore
from lineage.decide.engine import Engine
from lineage.governor import ApprovalRequired, ExecutionContext, Governor
from lineage.identity.run_identity import RunIdentity
from lineage.policy import load_policy_text
from lineage.approve.approver_keys import ApproverKeys

POLICY_TEXT = """
approvals:
  approvers: [{group: data-owners}, {principal: "*@corp"}]
  ttl: 30m
identity:
  groups:
    - {principal: olga@corp, groups: [data-owners]}
"""
SIGNERS = ("olga@corp", "mallory@corp", "ALICE@corp", "svc:etl")
SQL = "ALTER TABLE crm.orders DROP COLUMN amount"
REQUESTER = RunIdentity(principal="svc:etl", job_name="etl.cleanup", environment="prod", run_id="0190a7f4-0000-7000-8000-00000000000a")
ALICE = RunIdentity(principal="alice@corp", job_name="etl.cleanup", environment="prod")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ApproverKeys(tmp_path_factory.mktemp("approver-keys"))


def keyed(keys, text=POLICY_TEXT):
    return load_policy_text(keys.policy_text(text, SIGNERS, ["ui"]))


@pytest.fixture(scope="module")
def policy(keys):
    return keyed(keys)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return ApprovalStore(f"sqlite:///{tmp_path / 'approvals.db'}")
    postgres = request.getfixturevalue("postgres")
    import psycopg

    name = f"attacks_{abs(hash(request.node.name)) % 10**8}"
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(f"drop database if exists {name}")
        connection.execute(f"create database {name}")
    return ApprovalStore(postgres.dsn_for(name))


def raw_update(store: ApprovalStore, request_id: str, **values) -> None:
    """What anyone who can write the store can do: set columns directly."""
    if "signature" in values and not isinstance(values["signature"], (str, type(None))):
        values["signature"] = json.dumps(values["signature"])
    with store._transaction() as cursor:
        cursor.execute(f"update lineage_approvals set {', '.join(f'{column} = ?' for column in values)} where id = ?", [*values.values(), request_id])


class Warehouse:
    """A DuckDB warehouse with crm.orders(id, amount) and a governor over it."""

    def __init__(self, policy, store):
        self.connection = duckdb.connect()
        self.connection.execute("create schema crm; create table crm.orders (id int, amount int)")
        self.approvals = Approvals(policy, store)
        self.governor = Governor(Engine(policy, dialect="duckdb"), approvals=self.approvals)

    def run(self, sql=SQL, identity=REQUESTER):
        return self.governor.execute(sql, identity, lambda text: self.connection.execute(text), ExecutionContext("duckdb"))

    def held(self, sql=SQL, identity=REQUESTER) -> ApprovalRequired:
        with pytest.raises(ApprovalRequired) as held:
            self.run(sql, identity)
        return held.value

    def columns(self) -> list[str]:
        return [row[0] for row in self.connection.execute("describe crm.orders").fetchall()]


FUTURE = "2999-01-01T00:00:00.000+00:00"


def test_a_row_set_to_approved_in_the_store_runs_nothing(store, policy):
    warehouse = Warehouse(policy, store)
    request_id = warehouse.held().request_id
    raw_update(store, request_id, status="approved", decided_by="olga@corp", valid_until=FUTURE)
    held = warehouse.held()
    assert f"approval {request_id} ignored: it is not signed" in str(held)
    assert warehouse.columns() == ["id", "amount"]


def test_forged_tampered_and_transplanted_signatures_run_nothing(store, policy, keys):
    warehouse = Warehouse(policy, store)
    request_id = warehouse.held().request_id
    request = store.get(request_id)
    now = datetime.now(timezone.utc)
    decided, until = now.isoformat(), (now + timedelta(minutes=10)).isoformat()
    # 1. signed by a key the policy does not list (mallory made her own)
    rogue = generate()
    forged_signer = signer_for(load_policy_text(f"approvals: {{keys: [{{principal: olga@corp, public_key: '{public_text(rogue)}'}}]}}").policy.approvals, rogue)
    forged = signed_record(forged_signer, signed_payload(request, "approved", forged_signer, decided, until, None))
    raw_update(store, request_id, status="approved", valid_until=FUTURE, signature=forged)
    assert "which the policy does not trust" in str(warehouse.held())
    # 2. a real approval of this request whose payload was edited afterwards (the run id of another run)
    olga = signer_for(policy.policy.approvals, keys.key("olga@corp"))
    genuine = signed_record(olga, signed_payload(request, "approved", olga, decided, until, None))
    tampered = json.loads(json.dumps(genuine))
    tampered["payload"]["valid_until"] = FUTURE
    raw_update(store, request_id, status="approved", valid_until=FUTURE, signature=tampered)
    assert "does not match its content" in str(warehouse.held())
    # 3. the genuine approval of another statement, transplanted into this request's row
    other = Warehouse(policy, store)
    other_id = other.held("ALTER TABLE crm.orders DROP COLUMN id").request_id
    other_approval = Approvals(policy, store).approve(other_id, olga).signature
    raw_update(store, request_id, status="approved", valid_until=FUTURE, signature=other_approval)
    assert "made for another request" in str(warehouse.held())
    assert warehouse.columns() == ["id", "amount"]
    # and the genuine one runs it
    raw_update(store, request_id, status="approved", valid_until=until, signature=genuine)
    outcome = warehouse.run()[0]
    assert outcome.approval_id == request_id and outcome.extra["approver"] == "olga@corp"
    assert outcome.extra["approval_evidence"]["key_id"] == olga.key_id and outcome.extra["approval_evidence"]["signature"] == genuine["signature"]
    assert warehouse.columns() == ["id"]


def test_self_approval_by_case_or_look_alike_is_refused_by_the_tool_and_by_the_worker(store, policy, keys):
    warehouse = Warehouse(policy, store)
    request_id = warehouse.held(identity=ALICE).request_id
    approvals = Approvals(policy, store)
    # the approver's own key, registered under another spelling of her name
    with pytest.raises(ApprovalError, match="cannot decide on it"):
        approvals.approve(request_id, signer_for(policy.policy.approvals, keys.key("ALICE@corp")))
    # the UI signing for an account named ALICE, full-width ＡＬＩＣＥ, or Cyrillic а-lice
    for user, why in (("ALICE@corp", "cannot decide on it"), ("ＡＬＩＣＥ@corp", "cannot decide on it"),
                      ("\u0430lice@corp", "mixes letters of the CYRILLIC and LATIN scripts"), ("al\u200bice@corp", "invisible")):
        with pytest.raises(ApprovalError, match=why):
            approvals.approve(request_id, signer_for(policy.policy.approvals, keys.key("ui"), user=user))
    # a signer that skips the tool's checks (the UI's key signing whatever it is told): the worker refuses it
    ui = signer_for(policy.policy.approvals, keys.key("ui"), user="ALICE@corp")
    now = datetime.now(timezone.utc)
    payload = signed_payload(store.get(request_id), "approved", ui, now.isoformat(), (now + timedelta(minutes=5)).isoformat(), None)
    raw_update(store, request_id, status="approved", valid_until=FUTURE, signature=signed_record(ui, payload))
    assert "cannot decide on it (nobody approves their own request)" in str(warehouse.held(identity=ALICE))
    assert warehouse.columns() == ["id", "amount"]


def test_group_and_principal_names_compare_canonically(policy, keys):
    from lineage.approve.verify import may_approve

    may_approve(policy.policy, "OLGA@corp", (), "svc:etl")  # identity.groups gives OLGA data-owners too
    strict = keyed(keys, "approvals: {approvers: [{group: Data-Owners}]}\n")
    may_approve(strict.policy, "bob", ("data-owners",), "svc:etl")
    with pytest.raises(Rejected, match="not an approver"):
        may_approve(strict.policy, "bob", ("data-owners-x",), "svc:etl")


@pytest.mark.parametrize("other, why", [
    (REQUESTER.with_(environment="dev"), "is for environment prod, not dev"),
    (REQUESTER.with_(principal="mallory@corp"), "was asked by svc:etl; this run's principal is mallory@corp"),
    (REQUESTER.with_(job_name="other.job"), "is for job lineage-governance/etl.cleanup, not lineage-governance/other.job"),
    (REQUESTER.with_(run_id="0190a7f4-0000-7000-8000-00000000000b"), "is for run"),
])
def test_an_approval_is_bound_to_environment_principal_job_and_run(store, policy, keys, other, why):
    warehouse = Warehouse(policy, store)
    request_id = warehouse.held().request_id
    warehouse.approvals.approve(request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
    presented = other.with_(attributes={"approval_ids": (request_id,)})
    assert why in str(warehouse.held(identity=presented))
    assert warehouse.columns() == ["id", "amount"]
    if other.run_id == REQUESTER.run_id:
        return
    # presenting the id (lineage dbt|exec --approval) continues the run only for the same job, env and principal
    continued, notes = warehouse.approvals.continuing(other, [request_id])
    if other.run_id != REQUESTER.run_id and other.job_name == REQUESTER.job_name and other.environment == "prod" and other.principal == "svc:etl":
        assert notes == [] and continued.run_id == REQUESTER.run_id
    else:
        assert continued.run_id == other.run_id and notes and "ignored" in notes[0]
        assert warehouse.approvals.approval_for(warehouse.governor.decide(SQL, continued, "duckdb")[0], continued) is None


def test_scope_job_covers_the_other_runs_of_the_job_only(store, keys):
    policy = keyed(keys, POLICY_TEXT.replace("ttl: 30m", "ttl: 30m\n  scope: job"))
    warehouse = Warehouse(policy, store)
    request_id = warehouse.held().request_id
    warehouse.approvals.approve(request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
    other_job = RunIdentity(principal="svc:etl", job_name="other.job", environment="prod", attributes={"approval_ids": (request_id,)})
    assert "is for job" in str(warehouse.held(identity=other_job))
    outcome = warehouse.run(identity=REQUESTER.with_(run_id="0190a7f4-0000-7000-8000-00000000000c"))[0]
    assert outcome.approval_id == request_id and warehouse.columns() == ["id"]


def test_a_changed_literal_is_another_statement(store, policy, keys):
    classified = keyed(keys, POLICY_TEXT + "classifications: [{table: crm.orders, columns: {ssn: pii.ssn}}]\n"
                                         "guardrails: [{rule: delete_without_where, action: require_approval}]\n"
                                         "masking: {unmasked_for: [{principal: 'svc:etl'}]}\n")
    connection = duckdb.connect()
    connection.execute("create schema crm; create table crm.orders (id int, ssn varchar, amount int)")
    connection.execute("insert into crm.orders values (1, '111-11-1111', 5), (2, '222-22-2222', 7)")
    approvals = Approvals(classified, store)
    governor = Governor(Engine(classified, dialect="duckdb"), approvals=approvals)
    statement = "DELETE FROM crm.orders WHERE ssn = '{}' OR amount > {} OR TRUE"

    def run(ssn, amount):
        return governor.execute(statement.format(ssn, amount), REQUESTER, lambda sql: connection.execute(sql), ExecutionContext("duckdb"))

    with pytest.raises(ApprovalRequired) as held:
        run("111-11-1111", 100)
    request = store.get(held.value.request_id)
    assert request.statement == "DELETE FROM crm.orders WHERE ssn = ? OR amount > 100 OR TRUE"  # the approver sees the rest
    assert "111-11-1111" not in json.dumps(request.to_dict())
    approvals.approve(request.id, signer_for(classified.policy.approvals, keys.key("olga@corp")))
    for ssn, amount, why in (("222-22-2222", 100, "approves other values"), ("111-11-1111", 0, "approves another statement")):
        with pytest.raises(ApprovalRequired) as changed:
            run(ssn, amount)
        assert why in str(changed.value)
    assert connection.execute("select count(*) from crm.orders").fetchone() == (2,)
    governor.execute("delete  from crm.orders -- approved\n where ssn = '111-11-1111' or amount > 100 or true", REQUESTER,
                     lambda sql: connection.execute(sql), ExecutionContext("duckdb"))  # what was approved, comments and spacing aside
    assert connection.execute("select count(*) from crm.orders").fetchone() == (0,)


def test_a_request_row_that_lies_about_its_statement_gets_nothing_run(store, policy, keys):
    """The approver signs what the row shows; the worker runs only a statement that is exactly that."""
    warehouse = Warehouse(policy, store)
    request_id = warehouse.held().request_id
    raw_update(store, request_id, statement="SELECT 1")
    warehouse.approvals.approve(request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
    assert "approves another statement: SELECT 1" in str(warehouse.held())
    assert warehouse.columns() == ["id", "amount"]


def test_cli_takes_neither_principal_nor_group_at_their_word(cli, tmp_path, policy, keys):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_bytes(policy.raw)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = ApprovalStore(url)
    request_id = Warehouse(policy, store).held(identity=ALICE).request_id
    base = ("approvals", "approve", request_id, "--approvals", url, "--policy", str(policy_file))
    claimed = cli(*base, "--principal", "olga@corp", "--group", "data-owners")
    assert claimed.code == 2 and "--group" in claimed.err
    unsigned = cli(*base, "--principal", "olga@corp")
    assert unsigned.code == 2 and "give --key FILE" in unsigned.err
    stolen_name = cli(*base, "--principal", "olga@corp", "--key", str(keys.path("mallory@corp")))
    assert stolen_name.code == 2 and "belongs to mallory@corp" in stolen_name.err
    by_case = cli(*base, "--key", str(keys.path("ALICE@corp")))
    assert by_case.code == 1 and "cannot decide on it" in by_case.out
    server = cli(*base, "--key", str(keys.path("ui")))
    assert server.code == 2 and "signs only for a logged-in user" in server.err
    assert store.get(request_id).status == "pending"
