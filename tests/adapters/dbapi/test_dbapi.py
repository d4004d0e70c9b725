"""lineage.adapters.dbapi on real DuckDB and PostgreSQL: governed results, refusals, ledger records, application_name."""

from __future__ import annotations

import duckdb
import psycopg
import pytest

from lineage.adapters.dbapi import UngovernedMethod, govern
from lineage.governor import ApprovalRequired, StatementBlocked
from lineage.identity.run_identity import RunIdentity
from lineage.record import open_ledger


@pytest.fixture
def ledger(tmp_path):
    return open_ledger(tmp_path / "ledger.db")


def statements(ledger):
    return [(entry.body["phase"], entry.body["statement"]["sql"], entry.body["rows"]) for entry in ledger.entries() if entry.body["kind"] == "statement"]


def test_duckdb_connection_is_governed(ledger, policy_path):
    raw = duckdb.connect()
    raw.execute("create schema crm; create table crm.orders (id int, amount int, status text); insert into crm.orders values (1, 10, 'new'), (2, 20, 'new')")
    identity = RunIdentity(principal="svc:etl", environment="prod", source="dbapi", job_name="load_orders")
    connection = govern(raw, policy=str(policy_path), identity=identity, ledger=ledger)
    assert connection.governor.engine.catalog.columns("crm.orders") == {"id": "INTEGER", "amount": "INTEGER", "status": "VARCHAR"}

    assert connection.execute("select amount from crm.orders where id = ?", [2]).fetchall() == [(20,)]
    cursor = connection.cursor()
    assert cursor.execute("update crm.orders set status = 'paid' where id = $1", [1]) is cursor
    connection.executemany("insert into crm.orders values (?, ?, 'new')", [(3, 30), (4, 40)])
    assert connection.sql("select count(*) from crm.orders").fetchall() == [(4,)]

    with pytest.raises(StatementBlocked, match="delete_without_where"):
        connection.execute("delete from crm.orders")
    with pytest.raises(ApprovalRequired, match="drop_column"):
        connection.execute("alter table crm.orders drop column status")
    assert raw.execute("select count(*), count(status) from crm.orders").fetchone() == (4, 4)
    with pytest.raises(UngovernedMethod, match="table"):
        connection.table("crm.orders")
    with pytest.raises(duckdb.ProgrammingError, match="one statement per execute"):
        connection.execute("select 1 where 1 = ?; select 2", [1])

    recorded = statements(ledger)
    assert recorded[:2] == [("started", "SELECT amount FROM crm.orders WHERE id = ?", None), ("finished", "SELECT amount FROM crm.orders WHERE id = ?", None)]
    assert ("finished", "UPDATE crm.orders SET status = ? WHERE id = ?", 1) in recorded
    assert ("finished", "INSERT INTO crm.orders VALUES (?, ?, ?)", 2) in recorded
    assert [phase for phase, sql, _ in recorded if sql.startswith(("DELETE", "ALTER"))] == ["refused", "refused"]
    assert {entry.body["identity"]["job_name"] for entry in ledger.entries()} == {"load_orders"}
    assert ledger.verify().ok


def test_create_table_teaches_the_catalog(ledger):
    raw = duckdb.connect()
    raw.execute("create table src (a int, b text)")
    connection = govern(raw, identity=RunIdentity(principal="svc:etl"), ledger=ledger)
    connection.execute("create table dst as select a, b from src")
    assert list(connection.governor.engine.catalog.columns("dst")) == ["a", "b"]


def test_events_collaborator_sees_every_statement(ledger):
    class Recorder:
        def __init__(self):
            self.calls = []

        def statement_started(self, identity, decision, context):
            self.calls.append(("started", decision.facts.kind, context.namespace))

        def statement_finished(self, identity, decision, context, outcome):
            self.calls.append(("finished", decision.facts.kind, outcome.error))

    events = Recorder()
    raw = duckdb.connect()
    connection = govern(raw, identity=RunIdentity(principal="svc:etl"), ledger=ledger, events=events)
    connection.execute("create table t (a int)")
    assert events.calls == [("started", "create_table", "duckdb://memory"), ("finished", "create_table", None)]


@pytest.mark.postgres
def test_psycopg_connection_is_governed(postgres, ledger, policy_path):
    dsn = postgres.dsn_for("dbapi_test")
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS dbapi_test WITH (FORCE)")
        admin.execute("CREATE DATABASE dbapi_test")
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("create schema crm; create table crm.orders (id int primary key, amount int, status text)")
        setup.execute("insert into crm.orders values (1, 10, 'new'), (2, 20, 'new'), (3, 30, 'new')")
    identity = RunIdentity(principal="svc:etl", environment="prod", source="dbapi")
    raw = psycopg.connect(dsn)
    connection = govern(raw, policy=str(policy_path), identity=identity, ledger=ledger)
    assert connection.identity.database_user == "postgres"
    assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # lineage's own statements left no transaction open

    with psycopg.connect(dsn) as observer:
        row = observer.execute("select application_name from pg_stat_activity where pid = %s", (raw.info.backend_pid,)).fetchone()
    assert row == (f"lg:{identity.run_id}:svc:etl",)

    assert connection.execute("select amount from crm.orders where id = %s", (2,)).fetchall() == [(20,)]
    assert connection.execute("select id from crm.orders where status like 'n%%' and amount > %(least)s order by id", {"least": 15}).fetchall() == [(2,), (3,)]
    with connection.cursor() as cursor:
        cursor.execute("update crm.orders set status = 'paid' where amount >= 20")
        assert cursor.rowcount == 2
    connection.rollback()  # the pipeline's own transaction: governance neither commits nor rolls back for it
    assert connection.execute("select count(*) from crm.orders where status = 'paid'").fetchone() == (0,)
    connection.commit()

    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        connection.execute("select amount from crm.orders where id = 'not-a-number'")
    connection.rollback()
    with pytest.raises(StatementBlocked):
        connection.execute("update crm.orders set amount = 0")
    with pytest.raises(UngovernedMethod, match="copy"):
        connection.cursor().copy("copy crm.orders to stdout")

    recorded = statements(ledger)
    assert ("finished", "UPDATE crm.orders SET status = ? WHERE amount >= ?", 2) in recorded
    failed = [entry.body for entry in ledger.entries() if entry.body.get("phase") == "failed"]
    assert len(failed) == 1 and "not-a-number" not in failed[0]["error"] and failed[0]["error"].startswith("InvalidTextRepresentation")
    sessions = [entry.body["payload"]["purpose"] for entry in ledger.entries() if entry.body["kind"] == "session"]
    assert sessions == ["catalog", "catalog", "application_name"]  # the columns, then built-in names overloaded outside pg_catalog
    assert ledger.verify().ok
    connection.close()
