"""The governor drives one statement through decide -> admit -> run -> record; the comment and fingerprint helpers.

Each governor behaviour is pinned with real collaborators: a SQLite ledger (entries read back),
signed approvals in a SQLite approvals store, DuckDB as the database (rows read back)."""

from __future__ import annotations

import sqlite3

import duckdb
import pytest

from lineage.approve.approvals import Approvals, ApprovalStore
from lineage.approve.approver_keys import ApproverKeys
from lineage.approve.verify import signer_for
from lineage.decide.catalog import Catalog
from lineage.identity.comment import application_name, format_comment, identity_comment, parse_comment, stamp
from lineage.decide.engine import Engine
from lineage.fingerprint import normalize
from lineage.governor import ApprovalRequired, ApprovalState, ExecutionContext, Governor, OutcomeUnknown, StatementBlocked
from lineage.identity.run_identity import RunIdentity
from lineage.policy import load_policy_text
from lineage.record import open_ledger
from lineage.record.outcomes import RetryGuard


class RecordingLedger:
    def __init__(self):
        self.records = []

    def record_statement(self, identity, decision, phase, **details):
        self.records.append((phase, decision.facts.kind, details))


def test_comment_round_trip_and_stamping():
    identity = RunIdentity(principal="svc:etl, the 'loader'", run_id="0190a7f4-52a4-7c2b-9b3e-0c6f2b0b7a11", job_name="etl.load")
    comment = identity_comment(identity, "sha256:abc")
    assert comment.startswith("/*") and comment.endswith("*/")
    assert "'" not in comment[2:-2].replace("='", "").replace("',", "").rstrip("'")  # values are encoded
    fields = parse_comment("SELECT 1 " + comment)
    assert fields["principal"] == "svc:etl, the 'loader'"
    assert fields["run_id"] == identity.run_id and fields["lg_policy"] == "sha256:abc"
    assert stamp("select 1;", "/*a='b'*/") == "select 1 /*a='b'*/;"
    assert stamp("select 1 -- note", "/*a='b'*/") == "select 1 -- note\n /*a='b'*/"
    assert format_comment({"b": "2", "a": "x y"}) == "/*a='x%20y',b='2'*/"
    assert len(application_name(RunIdentity(principal="p" * 100)).encode()) <= 63


def test_fingerprint_drops_literals_and_comments():
    first, fp1 = normalize("SELECT * FROM crm.customers WHERE ssn = '123-45-6789' /* x */", "postgres")
    second, fp2 = normalize("select * from crm.customers where ssn = '987-65-4321'", "postgres")
    assert "123-45-6789" not in first and fp1 == fp2
    text, _ = normalize("DO $$ BEGIN PERFORM '123-45-6789'; END $$", "postgres")
    assert "123-45-6789" not in text
    text, _ = normalize("SELEC 'secret-value' FRM x", "postgres")
    assert "secret-value" not in text


def test_governor_runs_allowed_and_refuses_blocked(loaded_policy, catalog):
    connection = duckdb.connect()
    connection.execute("create schema crm; create table crm.orders (id int, amount int); insert into crm.orders values (1, 10)")
    ledger = RecordingLedger()
    governor = Governor(Engine(loaded_policy, catalog, dialect="duckdb"), ledger=ledger)
    identity = RunIdentity(principal="svc:etl", environment="prod")
    executed = []

    def run(sql):
        executed.append(sql)
        return connection.execute(sql).fetchall()

    outcomes = governor.execute("select amount from crm.orders", identity, run, ExecutionContext("duckdb"))
    assert outcomes[0].result == [(10,)]
    assert f"run_id='{identity.run_id}'" in executed[0]
    with pytest.raises(StatementBlocked) as blocked:
        governor.execute("delete from crm.orders", identity, run, ExecutionContext("duckdb"))
    assert "delete_without_where" in str(blocked.value) and "delete from crm.orders" in str(blocked.value)
    assert connection.execute("select count(*) from crm.orders").fetchone() == (1,)
    with pytest.raises(ApprovalRequired):
        governor.execute("alter table crm.orders drop column amount", identity, run, ExecutionContext("duckdb"))
    assert [phase for phase, _, _ in ledger.records] == ["started", "finished", "refused", "refused"]
    assert len(executed) == 1


# -- the governor's behaviours ---------------------------------------------------------------

POLICY = """
classifications:
  - {table: crm.customers, columns: {email: pii.email}}
masking:
  rules: [{tags: [pii.email], strategy: email}]
  unmasked_for: [{principal: "officer@corp"}]
guardrails:
  - {rule: delete_without_where, action: block}
  - {rule: drop_column, action: require_approval}
  - {rule: rename, action: warn}
  - {rule: drop_table, action: warn}
approvals:
  approvers: [{principal: "olga@corp"}]
  ttl: 30m
"""
ETL = RunIdentity(principal="svc:etl", job_name="etl.nightly", environment="prod")
OFFICER = RunIdentity(principal="officer@corp", job_name="etl.nightly", environment="prod")
HELD = "alter table crm.orders drop column amount"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ApproverKeys(tmp_path_factory.mktemp("approver-keys"))


@pytest.fixture(scope="module")
def policy(keys):
    return load_policy_text(keys.policy_text(POLICY, ["olga@corp"]))


class Warehouse:
    """DuckDB with crm.orders and crm.customers, a governor over it, its ledger and approvals."""

    def __init__(self, tmp_path, policy, **governor):
        self.connection = duckdb.connect()
        self.connection.execute("create schema crm; create table crm.orders (id int, amount int); insert into crm.orders values (1, 10);"
                                "create table crm.customers (id int primary key, email varchar)")
        self.ledger = open_ledger(tmp_path / "ledger.db")
        self.approvals = Approvals(policy, ApprovalStore(f"sqlite:///{tmp_path / 'approvals.db'}"))
        self.engine = Engine(policy, Catalog.from_duckdb(self.connection), dialect="duckdb")
        self.governor = Governor(self.engine, ledger=self.ledger, approvals=self.approvals, **governor)

    def run(self, sql: str) -> list:
        return self.connection.execute(sql).fetchall()

    def execute(self, sql: str, identity: RunIdentity = ETL, run=None):
        return self.governor.execute(sql, identity, run or self.run, ExecutionContext("duckdb"))

    def held(self, sql: str = HELD, identity: RunIdentity = ETL) -> ApprovalRequired:
        with pytest.raises(ApprovalRequired) as held:
            self.execute(sql, identity)
        return held.value

    def columns(self, table: str = "crm.orders") -> list[str]:
        return [row[0] for row in self.connection.execute(f"describe {table}").fetchall()]

    def records(self) -> list[dict]:
        return [entry.body for entry in self.ledger.entries()]

    def phases(self) -> list[str]:
        return [body.get("phase") or body["kind"] for body in self.records()]


@pytest.fixture
def warehouse(tmp_path, policy):
    return Warehouse(tmp_path, policy)


def test_a_blocked_statement_is_recorded_refused_and_never_runs(warehouse):
    with pytest.raises(StatementBlocked, match="delete_without_where"):
        warehouse.execute("delete from crm.orders")
    assert warehouse.run("select count(*) from crm.orders") == [(1,)]
    (refused,) = warehouse.records()
    assert refused["phase"] == "refused" and refused["decision"]["action"] == "block"
    assert "delete_without_where" in refused["error"]


def test_a_held_statement_is_requested_once_per_run(warehouse):
    first = warehouse.held()
    again = warehouse.held()
    assert first.request is not None and first.request.status == "pending" and first.request_id == first.request.id
    assert again.request_id == first.request_id
    assert [request.id for request in warehouse.approvals.store.list()] == [first.request_id]
    assert warehouse.phases() == ["refused"]  # the second try waits on the same request, unrecorded
    assert warehouse.records()[0]["approval"] == {"request": first.request_id}
    # another run of the job asks for itself
    other = warehouse.held(identity=ETL.with_(run_id="0190a7f4-0000-7000-8000-000000000002"))
    assert other.request_id != first.request_id
    assert warehouse.columns() == ["id", "amount"]


def test_a_signed_approval_lets_the_held_statement_run_and_is_recorded(warehouse, policy, keys):
    request_id = warehouse.held().request_id
    warehouse.approvals.approve(request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
    (outcome,) = warehouse.execute(HELD)
    assert warehouse.columns() == ["id"]
    assert outcome.approval_id == request_id and outcome.extra["approver"] == "olga@corp"
    assert warehouse.phases() == ["refused", "started", "finished"]
    finished = warehouse.records()[-1]
    assert finished["approval"]["id"] == request_id and finished["approval"]["approver"] == "olga@corp"


def test_approval_state_says_where_a_held_statement_stands(warehouse, policy, keys):
    decision = warehouse.governor.decide(HELD, ETL, "duckdb")[0]
    assert warehouse.governor.approval_state(decision, ETL) == ApprovalState()
    assert warehouse.governor.approval_state(decision, ETL).status == "not requested"
    request_id = warehouse.held().request_id
    state = warehouse.governor.approval_state(decision, ETL)
    assert state.approval_id is None and state.request.id == request_id and state.status == "pending"
    olga = signer_for(policy.policy.approvals, keys.key("olga@corp"))
    warehouse.approvals.approve(request_id, olga)
    state = warehouse.governor.approval_state(decision, ETL)
    assert state.approval_id == request_id and state.status == "approved"


def test_a_denied_request_stays_the_answer_for_the_run(warehouse, policy, keys):
    request_id = warehouse.held().request_id
    warehouse.approvals.deny(request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
    held = warehouse.held()
    assert held.request_id == request_id and held.request.status == "denied" and "(denied)" in str(held)
    assert warehouse.phases() == ["refused"] and warehouse.columns() == ["id", "amount"]


def test_an_approved_request_that_does_not_verify_asks_again(warehouse):
    request_id = warehouse.held().request_id
    with warehouse.approvals.store._transaction() as cursor:  # anyone who can write the store: no signature
        cursor.execute("update lineage_approvals set status = 'approved', decided_by = 'olga@corp', "
                       "valid_until = '2999-01-01T00:00:00.000+00:00' where id = ?", [request_id])
    held = warehouse.held()
    assert held.request_id != request_id and held.request.status == "pending"
    assert f"approval {request_id} ignored" in str(held)
    assert warehouse.phases() == ["refused", "refused"]
    assert warehouse.columns() == ["id", "amount"]


def test_without_an_approvals_store_a_held_statement_says_so(tmp_path, policy):
    warehouse = Warehouse(tmp_path, policy)
    warehouse.governor.approvals = None
    held = warehouse.held()
    assert held.request is None and held.request_id is None and "No approvals store is configured" in str(held)
    assert warehouse.phases() == ["refused"] and warehouse.columns() == ["id", "amount"]


def test_the_retry_guard_refuses_a_statement_an_earlier_try_left_unsettled(tmp_path, policy):
    first_try = ETL.with_(run_id="0190a7f4-0000-7000-8000-00000000000a")
    warehouse = Warehouse(tmp_path, policy)
    warehouse.governor.retry_guard = RetryGuard(warehouse.ledger, lambda identity: [first_try.run_id])
    insert = "insert into crm.orders values (2, 20)"
    decision = warehouse.governor.decide(insert, first_try, "duckdb")[0]
    started = warehouse.governor.begin(decision, first_try, ExecutionContext("duckdb"))  # the first try died here
    with pytest.raises(OutcomeUnknown) as unknown:
        warehouse.execute(insert)
    assert unknown.value.started == started.seq
    assert warehouse.run("select count(*) from crm.orders") == [(1,)]
    assert warehouse.phases() == ["started", "statement_not_retried"]
    assert warehouse.records()[-1]["payload"]["unsettled_seq"] == started.seq
    assert warehouse.execute("select count(*) from crm.orders")[0].result == [(1,)]  # reading again does no work twice


def test_begin_and_end_record_a_statement_run_elsewhere(warehouse):
    decision = warehouse.governor.decide("insert into crm.orders values (2, 20)", ETL, "duckdb")[0]
    running = warehouse.governor.begin(decision, ETL, ExecutionContext("duckdb"))
    assert f"run_id='{ETL.run_id}'" in running.outcome.executed_sql
    warehouse.run(running.outcome.executed_sql)  # dbt runs it itself
    outcome = warehouse.governor.end(running, rowcount=1)
    assert outcome.rowcount == 1 and outcome.error is None
    failing = warehouse.governor.begin(decision, ETL, ExecutionContext("duckdb"))
    warehouse.governor.end(failing, error="Constraint Error: duplicate key")
    started, finished, started_again, failed = warehouse.records()
    assert [started["phase"], finished["phase"], started_again["phase"], failed["phase"]] == ["started", "finished", "started", "failed"]
    assert finished["rows"] == 1 and running.seq == next(warehouse.ledger.entries()).seq
    assert "duplicate key" in failed["error"]
    assert warehouse.run("select count(*) from crm.orders") == [(2,)]


def test_statements_of_a_run_are_numbered_across_governors_that_share_the_numbers(tmp_path, policy):
    shared: dict[str, int] = {}
    first = Warehouse(tmp_path / "a", policy, statement_numbers=shared)
    second = Warehouse(tmp_path / "b", policy, statement_numbers=shared)
    alone = Warehouse(tmp_path / "c", policy)
    decision = first.governor.decide("select 1", ETL, "duckdb")[0]
    numbers = [governor.begin(decision, ETL, ExecutionContext("duckdb")).context.statement_number
               for governor in (first.governor, second.governor, first.governor)]
    assert numbers == [1, 2, 3]
    assert alone.governor.begin(decision, ETL, ExecutionContext("duckdb")).context.statement_number == 1
    other_run = ETL.with_(run_id="0190a7f4-0000-7000-8000-000000000003")
    assert second.governor.begin(decision, other_run, ExecutionContext("duckdb")).context.statement_number == 1


def test_a_database_error_is_scrubbed_for_an_identity_reading_masked_data(warehouse):
    insert = "insert into crm.customers (id, email) values ('secret-4242', 'alice@example.com')"
    with pytest.raises(duckdb.ConversionException) as raw:
        warehouse.execute(insert, OFFICER)  # reads unmasked: the database's own words
    assert "secret-4242" in str(raw.value)
    with pytest.raises(duckdb.ConversionException) as scrubbed:
        warehouse.execute(insert, ETL)
    assert "secret-4242" not in str(scrubbed.value) and "withheld" in str(scrubbed.value)
    assert scrubbed.value.__cause__ is None and scrubbed.value.__context__ is None  # the raw error is not chained
    failed = warehouse.records()[-1]
    assert failed["phase"] == "failed" and "secret-4242" not in failed["error"] and "withheld" in failed["error"]
    assert warehouse.run("select count(*) from crm.customers") == [(0,)]


def _connection_lost_after_running(warehouse):
    def run(sql):
        warehouse.run(sql)
        raise ConnectionResetError("server closed the connection")

    return run


def test_a_lost_connection_records_unknown_and_raises_outcome_unknown(warehouse):
    with pytest.raises(OutcomeUnknown) as unknown:
        warehouse.execute("insert into crm.orders values (2, 20)", run=_connection_lost_after_running(warehouse))
    assert warehouse.phases() == ["started", "unknown"]  # not "failed": it may have run
    assert unknown.value.started == next(warehouse.ledger.entries()).seq
    assert isinstance(unknown.value.__cause__, ConnectionResetError)
    assert "may have run" in str(unknown.value) and "lineage ledger reconcile" in str(unknown.value)
    assert warehouse.run("select count(*) from crm.orders") == [(2,)]  # and it did


def test_a_ledger_failing_after_the_statement_ran_raises_outcome_unknown(warehouse, tmp_path):
    def run_then_break_the_ledger(sql):
        result = warehouse.run(sql)
        broken = sqlite3.connect(str(tmp_path / "ledger.db"), isolation_level=None)
        broken.execute("drop table lineage_ledger_head")
        broken.close()
        return result

    with pytest.raises(OutcomeUnknown) as unknown:
        warehouse.execute("insert into crm.orders values (2, 20)", run=run_then_break_the_ledger)
    assert "ran" in str(unknown.value) and "the ledger could not record it" in str(unknown.value)
    assert unknown.value.started == 1 and unknown.value.__cause__ is not None
    assert warehouse.run("select count(*) from crm.orders") == [(2,)]


class AdapterRefusal(Exception):
    pass


def test_refusals_turn_the_governors_errors_into_the_adapters(tmp_path, policy):
    warehouse = Warehouse(tmp_path, policy, refusals=lambda error: AdapterRefusal(f"{type(error).__name__}: {error}"))
    with pytest.raises(AdapterRefusal, match="StatementBlocked: blocked by lineage-governance"):
        warehouse.execute("delete from crm.orders")
    with pytest.raises(AdapterRefusal, match="ApprovalRequired"):
        warehouse.execute(HELD)
    with pytest.raises(AdapterRefusal, match="OutcomeUnknown") as lost:
        warehouse.execute("insert into crm.orders values (2, 20)", run=_connection_lost_after_running(warehouse))
    assert isinstance(lost.value.__cause__, ConnectionResetError)  # the cause is kept


def test_on_decision_is_told_of_each_decision_carried_out(tmp_path, policy):
    told = []
    warehouse = Warehouse(tmp_path, policy, on_decision=told.append)
    warehouse.execute("insert into crm.orders values (2, 20); select amount from crm.orders")
    with pytest.raises(StatementBlocked):
        warehouse.execute("delete from crm.orders")
    assert [(decision.facts.kind, decision.effective_action.value) for decision in told] == [
        ("insert", "allow"), ("select", "allow"), ("delete", "block")]


def test_ddl_the_catalog_cannot_follow_marks_it_stale(warehouse):
    warehouse.execute("alter table crm.orders add column note varchar")
    assert warehouse.governor.catalog_stale


def test_a_drop_or_dml_leaves_the_catalog_current(warehouse):
    warehouse.execute("insert into crm.orders values (2, 20); drop table crm.customers")
    assert not warehouse.governor.catalog_stale


def test_a_new_schema_leaves_the_catalog_current(warehouse):
    version = warehouse.engine.catalog.version
    warehouse.execute("create schema if not exists mart")
    assert not warehouse.governor.catalog_stale  # dbt creates its schema first in every run: no catalog read after it
    assert warehouse.engine.catalog.version == version


def test_a_failed_ddl_leaves_the_catalog_as_it_was(warehouse):
    add_id = "alter table crm.orders add column id int"  # id exists
    with pytest.raises(duckdb.Error):
        warehouse.execute(add_id)
    decision = warehouse.governor.decide(add_id, ETL, "duckdb")[0]
    running = warehouse.governor.begin(decision, ETL, ExecutionContext("duckdb"))
    warehouse.governor.end(running, error="Catalog Error: Column with name id already exists!")  # as dbt reports it
    assert not warehouse.governor.catalog_stale


def test_a_create_table_as_is_learned_instead(warehouse):
    warehouse.execute("create table crm.totals as select id, amount from crm.orders")
    assert not warehouse.governor.catalog_stale
    assert list(warehouse.engine.catalog.columns("crm.totals")) == ["id", "amount"]
    assert warehouse.execute("select amount from crm.totals")[0].result == [(10,)]


def test_a_rename_of_a_known_relation_carries_its_columns(warehouse):
    warehouse.execute("alter table crm.orders rename to orders_old")
    assert not warehouse.governor.catalog_stale
    assert list(warehouse.engine.catalog.columns("crm.orders_old")) == ["id", "amount"]
    assert warehouse.execute("select amount from crm.orders_old")[0].result == [(10,)]


def test_a_created_table_the_catalog_cannot_place_is_recorded_and_marks_it_stale(tmp_path):
    # two databases and no default: the catalog cannot tell where `crm.totals` belongs
    catalog = Catalog.from_mapping({"db1": {"crm": {"orders": {"id": "int"}}}, "db2": {"other": {"t": {"a": "int"}}}}, dialect="duckdb")
    connection = duckdb.connect()
    connection.execute("attach ':memory:' as db1; create schema db1.crm; create table db1.crm.orders (id int); insert into db1.crm.orders values (1); use db1")
    ledger = open_ledger(tmp_path / "ledger.db")
    governor = Governor(Engine(None, catalog, dialect="duckdb"), ledger=ledger)
    governor.execute("create table crm.totals as select id from crm.orders", ETL, lambda sql: connection.execute(sql).fetchall(), ExecutionContext("duckdb"))
    assert connection.execute("select id from db1.crm.totals").fetchall() == [(1,)]
    assert [entry.body["phase"] for entry in ledger.entries()] == ["started", "finished"]  # it ran, and the ledger says so
    assert governor.catalog_stale  # read the catalog again rather than guess
