"""The governor drives one statement through decide -> run -> record; the comment and fingerprint helpers."""

from __future__ import annotations

import duckdb
import pytest

from lineage.identity.comment import application_name, format_comment, identity_comment, parse_comment, stamp
from lineage.decide.engine import Engine
from lineage.fingerprint import normalize
from lineage.governor import ExecutionContext, Governor, StatementBlocked, ApprovalRequired
from lineage.identity.run_identity import RunIdentity


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
