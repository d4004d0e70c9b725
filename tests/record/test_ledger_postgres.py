"""The ledger on a real PostgreSQL 15: concurrent appenders, kill -9, tampering, migrations, no literals."""

from __future__ import annotations

import json

import psycopg
import pytest

from lineage.decide.engine import Engine
from lineage.governor import Governor, StatementBlocked
from lineage.identity.run_identity import RunIdentity
from lineage.record import Filters, chain_hash, open_ledger
from lineage.record.postgres import PostgresLedger

from ledger_support import SSN, assert_all_appended, fill, kill_during_appends, start_workers

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres, request):
    """A fresh database per test on the session server."""
    name = "ledger_" + request.node.name.replace("test_", "")[:40].lower()
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return postgres.dsn_for(name)


def attacker(dsn: str) -> psycopg.Connection:
    """A superuser with SQL access: switches the append-only triggers off first."""
    connection = psycopg.connect(dsn, autocommit=True)
    connection.execute("ALTER TABLE lineage_ledger DISABLE TRIGGER USER")
    return connection


def test_appends_chain_verify_and_refuse_updates(database, cli):
    ledger = open_ledger(database)
    assert isinstance(ledger, PostgresLedger) and ledger.version == 2
    entries = fill(ledger, 5)
    for before, after in zip(entries, entries[1:]):
        assert after.prev_hash == before.hash == chain_hash(before.seq, before.prev_hash, before.body_text)
    assert ledger.verify().ok
    with psycopg.connect(database, autocommit=True) as plain:
        for statement in ("UPDATE lineage_ledger SET body = '{}' WHERE seq = 2", "DELETE FROM lineage_ledger WHERE seq = 2", "TRUNCATE lineage_ledger"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                plain.execute(statement)
    result = cli("ledger", "verify", "--ledger", database)
    assert result.code == 0 and "5 records, chain intact" in result.out
    assert "127.0.0.1" in result.out


def test_durable_appends_wait_for_the_flush_outside_the_head_lock(database, postgres):
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
    ledger = open_ledger(database)
    fill(ledger, 5)
    assert ledger._durable is not None and "synchronous_commit = on" in ledger._durable
    assert ledger._conn().execute("SHOW synchronous_commit").fetchone() == ("off",)  # the append itself
    processes = start_workers(database, 4, 10)
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    result = ledger.verify()
    assert result.ok and result.records == 5 + 40


def test_tampering_is_found(database, tmp_path, cli):
    ledger = open_ledger(database)
    fill(ledger, 10)
    anchor = tmp_path / "anchor.json"
    assert cli("ledger", "anchor", "--ledger", database, "--output", str(anchor)).code == 0
    sql = attacker(database)

    sql.execute("UPDATE lineage_ledger SET body = replace(body, 'marker-0006', 'marker-0X06') WHERE seq = 6")  # one byte
    result = cli("ledger", "verify", "--ledger", database)
    assert result.code == 1 and "BROKEN at record 6" in result.out
    sql.execute("UPDATE lineage_ledger SET body = replace(body, 'marker-0X06', 'marker-0006') WHERE seq = 6")
    assert ledger.verify().ok

    rows = {seq: row for seq, *row in sql.execute("SELECT seq, prev_hash, hash, body FROM lineage_ledger WHERE seq IN (3, 5)")}
    sql.execute("UPDATE lineage_ledger SET prev_hash = %s, hash = %s, body = %s WHERE seq = 3", rows[5])  # swap two rows
    sql.execute("UPDATE lineage_ledger SET prev_hash = %s, hash = %s, body = %s WHERE seq = 5", rows[3])
    assert ledger.verify().broken_seq == 3
    sql.execute("UPDATE lineage_ledger SET prev_hash = %s, hash = %s, body = %s WHERE seq = 3", rows[3])
    sql.execute("UPDATE lineage_ledger SET prev_hash = %s, hash = %s, body = %s WHERE seq = 5", rows[5])
    assert ledger.verify().ok

    deleted = sql.execute("DELETE FROM lineage_ledger WHERE seq = 4 RETURNING seq, prev_hash, hash, body, time, kind, run_id, principal, action").fetchone()
    result = cli("ledger", "verify", "--ledger", database, "--format", "json")
    assert result.code == 1 and result.json()["broken_seq"] == 4
    sql.execute("INSERT INTO lineage_ledger (seq, prev_hash, hash, body, time, kind, run_id, principal, action) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", deleted)
    assert ledger.verify().ok

    sql.execute("DELETE FROM lineage_ledger WHERE seq > 8")  # truncate the tail and cover it up
    eight = sql.execute("SELECT hash FROM lineage_ledger WHERE seq = 8").fetchone()[0]
    sql.execute("UPDATE lineage_ledger_head SET seq = 8, hash = %s", (eight,))
    assert cli("ledger", "verify", "--ledger", database).code == 0
    result = cli("ledger", "verify", "--ledger", database, "--anchor", str(anchor))
    assert result.code == 1 and "BROKEN at record 9" in result.out and "truncated" in result.out


def test_eight_processes_open_a_fresh_ledger_and_append_to_one_chain(database):
    processes = start_workers(database, 8, 30, pause=0.002)  # they also race to create the tables
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert_all_appended(open_ledger(database), 8, 30)


def test_kill_9_during_appends_leaves_a_chain_that_verifies(database):
    open_ledger(database).close()
    kill_during_appends(database, lambda: open_ledger(database))
    ledger = open_ledger(database)
    ledger.record_event("after_kill", None, {})
    assert ledger.verify().ok


def test_version_1_ledger_is_upgraded(database):
    old = PostgresLedger(database, target_version=1)
    alice, bob = RunIdentity(principal="alice@corp"), RunIdentity(principal="bob@corp")
    for identity in (alice, bob, alice):
        old.record_event("test_append", identity, {"n": 1})
    old.close()
    upgraded = open_ledger(database)
    assert upgraded.version == 2 and upgraded.verify().ok
    assert [entry.seq for entry in upgraded.entries(Filters(principal="alice@corp"))] == [1, 3]
    with psycopg.connect(database) as connection:
        assert [row[0] for row in connection.execute("SELECT version FROM lineage_ledger_schema ORDER BY version")] == [1, 2]


def test_no_raw_literal_reaches_the_ledger_table(database, loaded_policy, catalog):
    ledger = open_ledger(database)
    governor = Governor(Engine(loaded_policy, catalog, dialect="postgres"), ledger=ledger)
    identity = RunIdentity(principal="alice@corp", environment="prod")

    def fails(sql):
        raise RuntimeError(f'invalid input syntax for type integer: "{SSN}"')

    with pytest.raises(RuntimeError):
        governor.execute(f"select id from crm.customers where id = '{SSN}'", identity, fails)
    with pytest.raises(StatementBlocked):
        governor.execute(f"delete from crm.customers where ssn = '{SSN}' or 1 = 1", identity, fails)
    governor.execute(f"select id from crm.customers where ssn = '{SSN}'", identity, lambda sql: None)
    with psycopg.connect(database) as connection:
        rows = connection.execute("SELECT t::text FROM lineage_ledger AS t").fetchall()
        head = connection.execute("SELECT t::text FROM lineage_ledger_head AS t").fetchall()
    assert len(rows) == 5  # started + failed, refused, started + finished
    dump = json.dumps(rows + head)
    assert SSN not in dump and "123456789" not in dump and "ssn = ?" in dump.lower()
