"""The ledger on SQLite: chain, tamper detection, anchors, CLI, migrations, concurrency, kill -9, no literals."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.record import Filters, LedgerError, chain_hash, open_ledger
from lineage.record.sqlite import SqliteLedger
from ledger_support import SSN, assert_all_appended, fill, kill_during_appends, start_workers  # noqa: F401


def raw(path: Path) -> sqlite3.Connection:
    """What an attacker with the file has: plain SQL, triggers dropped."""
    connection = sqlite3.connect(str(path), isolation_level=None)
    connection.execute("DROP TRIGGER IF EXISTS lineage_ledger_no_update")
    connection.execute("DROP TRIGGER IF EXISTS lineage_ledger_no_delete")
    return connection


@pytest.fixture
def ledger_path(tmp_path) -> Path:
    return tmp_path / "ledger.db"


def test_records_chain_and_verify(ledger_path):
    ledger = open_ledger(ledger_path)
    entries = fill(ledger, 5)
    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    for before, after in zip(entries, entries[1:]):
        assert after.prev_hash == before.hash
        assert after.hash == chain_hash(after.seq, before.hash, after.body_text)
    result = ledger.verify()
    assert result.ok and result.records == 5 and result.head_seq == 5 and result.head_hash == entries[-1].hash
    assert ledger.head() == (5, entries[-1].hash)


def test_statement_record_holds_the_decision(ledger_path, engine):
    identity = RunIdentity(principal="alice@corp", actor="agent:report-bot", environment="prod", job_name="daily")
    ledger = open_ledger(ledger_path)
    decision = engine.check("insert into mart.contacts select id, email from crm.customers where city = 'Paris'", identity)[0]
    ledger.record_statement(identity, decision, "started", executed_sql=decision.sql + " /*run_id='x'*/")
    ledger.record_statement(identity, decision, "finished", rows=3, duration_ms=12.34567)
    started, finished = [entry.body for entry in ledger.entries()]
    assert started["identity"]["principal"] == "alice@corp" and started["identity"]["actor"] == "agent:report-bot"
    assert started["statement"]["sql"] == "INSERT INTO mart.contacts SELECT id, email FROM crm.customers WHERE city = ?"
    assert started["statement"]["fingerprint"].startswith("fp:")
    assert started["tables"] == {"read": ["analytics.crm.customers"], "written": ["analytics.mart.contacts"]}
    assert started["decision"]["policy_version"] == engine.policy_version
    assert {finding["rule"] for finding in started["decision"]["findings"]} >= {"pii_to_unapproved_zone"} or started["decision"]["action"]
    assert finished["phase"] == "finished" and finished["rows"] == 3 and finished["duration_ms"] == 12.346
    assert "Paris" not in json.dumps(started) + json.dumps(finished)


def test_record_event_rejects_statement_kind_and_non_json(ledger_path):
    ledger = open_ledger(ledger_path)
    with pytest.raises(ValueError):
        ledger.record_event("statement", None, {})
    with pytest.raises(LedgerError, match="not plain JSON"):
        ledger.record_event("approval_granted", None, {"when": object()})
    assert ledger.verify().records == 0


# -- tampering ---------------------------------------------------------------------------


def test_edited_byte_in_the_file_is_found(ledger_path, cli):
    ledger = open_ledger(ledger_path)
    fill(ledger, 10)
    ledger.close()
    data = ledger_path.read_bytes()
    assert data.count(b"marker-0007") == 1
    ledger_path.write_bytes(data.replace(b"marker-0007", b"marker-0X07"))
    result = cli("ledger", "verify", "--ledger", str(ledger_path))
    assert result.code == 1
    assert "BROKEN at record 7" in result.out and "changed" in result.out
    assert SqliteLedger(ledger_path).verify().broken_seq == 7


def test_deleted_row_is_found(ledger_path, cli):
    ledger = open_ledger(ledger_path)
    fill(ledger, 10)
    plain = sqlite3.connect(str(ledger_path), isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        plain.execute("DELETE FROM lineage_ledger WHERE seq = 4")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        plain.execute("UPDATE lineage_ledger SET body = '{}' WHERE seq = 4")
    plain.close()
    raw(ledger_path).execute("DELETE FROM lineage_ledger WHERE seq = 4")
    result = cli("ledger", "verify", "--ledger", str(ledger_path), "--format", "json")
    assert result.code == 1
    assert result.json()["broken_seq"] == 4 and "missing" in result.json()["problem"]


def test_swapped_rows_are_found(ledger_path):
    ledger = open_ledger(ledger_path)
    fill(ledger, 10)
    connection = raw(ledger_path)
    three = connection.execute("SELECT prev_hash, hash, body FROM lineage_ledger WHERE seq = 3").fetchone()
    six = connection.execute("SELECT prev_hash, hash, body FROM lineage_ledger WHERE seq = 6").fetchone()
    connection.execute("UPDATE lineage_ledger SET prev_hash = ?, hash = ?, body = ? WHERE seq = 3", six)
    connection.execute("UPDATE lineage_ledger SET prev_hash = ?, hash = ?, body = ? WHERE seq = 6", three)
    result = ledger.verify()
    assert not result.ok and result.broken_seq == 3


def test_changed_filter_column_is_found(ledger_path):
    ledger = open_ledger(ledger_path)
    fill(ledger, 5)
    raw(ledger_path).execute("UPDATE lineage_ledger SET principal = 'mallory' WHERE seq = 2")
    result = ledger.verify()
    assert not result.ok and result.broken_seq == 2 and "principal" in result.problem


def test_truncated_tail_is_found_by_the_head_and_by_an_anchor(ledger_path, tmp_path, cli):
    ledger = open_ledger(ledger_path)
    fill(ledger, 10)
    anchor = tmp_path / "anchor.json"
    assert cli("ledger", "anchor", "--ledger", str(ledger_path), "--output", str(anchor)).code == 0
    assert json.loads(anchor.read_text())["seq"] == 10
    connection = raw(ledger_path)
    connection.execute("DELETE FROM lineage_ledger WHERE seq > 7")
    assert ledger.verify().broken_seq == 8  # the head still says 10
    seven = connection.execute("SELECT hash FROM lineage_ledger WHERE seq = 7").fetchone()[0]
    connection.execute("UPDATE lineage_ledger_head SET seq = 7, hash = ?", (seven,))  # a careful attacker
    assert ledger.verify().ok  # the chain alone cannot know about records that are gone
    result = cli("ledger", "verify", "--ledger", str(ledger_path), "--anchor", str(anchor))
    assert result.code == 1 and "BROKEN at record 8" in result.out and "truncated" in result.out


def test_rewritten_tail_is_found_by_an_anchor(ledger_path, tmp_path, cli):
    ledger = open_ledger(ledger_path)
    fill(ledger, 10)
    anchor = tmp_path / "anchor.json"
    cli("ledger", "anchor", "--ledger", str(ledger_path), "--output", str(anchor))
    connection = raw(ledger_path)
    prev = connection.execute("SELECT hash FROM lineage_ledger WHERE seq = 7").fetchone()[0]
    for seq in (8, 9, 10):  # rewrite the tail and re-chain it properly
        body = connection.execute("SELECT body FROM lineage_ledger WHERE seq = ?", (seq,)).fetchone()[0].replace("alice@corp", "mallory@corp")
        new = chain_hash(seq, prev, body)
        connection.execute("UPDATE lineage_ledger SET body = ?, prev_hash = ?, hash = ?, principal = 'mallory@corp' WHERE seq = ?", (body, prev, new, seq))
        prev = new
    connection.execute("UPDATE lineage_ledger_head SET seq = 10, hash = ?", (prev,))
    assert cli("ledger", "verify", "--ledger", str(ledger_path)).code == 0
    result = cli("ledger", "verify", "--ledger", str(ledger_path), "--anchor", str(anchor))
    assert result.code == 1 and "BROKEN at record 10" in result.out and "rewritten" in result.out


def test_verify_reads_a_jsonl_export(ledger_path, tmp_path, cli):
    fill(open_ledger(ledger_path), 6)
    export = tmp_path / "export.jsonl"
    assert cli("ledger", "export", "--ledger", str(ledger_path), "--format", "jsonl", "--output", str(export)).code == 0
    assert cli("ledger", "verify", "--ledger", str(export)).code == 0
    lines = export.read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    export.write_text("\n".join(lines) + "\n")
    result = cli("ledger", "verify", "--ledger", str(export))
    assert result.code == 1 and "BROKEN at record 3" in result.out


def test_verify_of_a_missing_ledger_is_bad_input_and_creates_nothing(tmp_path, cli):
    result = cli("ledger", "verify", "--ledger", str(tmp_path / "none.db"))
    assert result.code == 2 and "no ledger here" in result.err
    assert not (tmp_path / "none.db").exists()
    other = tmp_path / "other.db"
    sqlite3.connect(str(other)).execute("create table t (a int)")
    result = cli("ledger", "show", "--ledger", str(other))
    assert result.code == 2 and "not a ledger" in result.err
    untouched = sqlite3.connect(str(other))
    assert [row[0] for row in untouched.execute("select name from sqlite_master")] == ["t"]
    assert untouched.execute("pragma journal_mode").fetchone() == ("delete",)


# -- show / export -----------------------------------------------------------------------------


def test_show_filters_and_export(ledger_path, engine, cli):
    ledger = open_ledger(ledger_path)
    alice = RunIdentity(principal="alice@corp")
    bob = RunIdentity(principal="bob@corp", environment="prod")
    for identity, sql in ((alice, "select id from crm.orders"), (bob, "delete from crm.orders"), (alice, "select email from crm.customers")):
        decision = engine.check(sql, identity)[0]
        ledger.record_statement(identity, decision, "started" if decision.may_run else "refused")
    ledger.record_event("approval_granted", bob, {"request": "r-1"})

    by_principal = cli("ledger", "show", "--ledger", str(ledger_path), "--principal", "alice@corp", "--format", "json").json()
    assert [entry["seq"] for entry in by_principal] == [1, 3]
    by_table = cli("ledger", "show", "--ledger", str(ledger_path), "--table", "crm.orders", "--format", "json").json()
    assert [entry["seq"] for entry in by_table] == [1, 2]
    by_action = cli("ledger", "show", "--ledger", str(ledger_path), "--action", "block", "--format", "json").json()
    assert [entry["body"]["statement"]["sql"] for entry in by_action] == ["DELETE FROM crm.orders"]
    by_run = cli("ledger", "show", "--ledger", str(ledger_path), "--run", bob.run_id, "--format", "json").json()
    assert [entry["body"]["kind"] for entry in by_run] == ["statement", "approval_granted"]
    assert cli("ledger", "show", "--ledger", str(ledger_path), "--since", "1h", "--format", "json").json().__len__() == 4
    assert cli("ledger", "show", "--ledger", str(ledger_path), "--until", "2000-01-01", "--format", "json").json() == []
    table = cli("ledger", "show", "--ledger", str(ledger_path))
    assert table.code == 0 and "DELETE FROM crm.orders" in table.out and "4 record(s)" in table.out
    assert cli("ledger", "show", "--ledger", str(ledger_path), "--since", "yesterday-ish").code == 2

    exported = cli("ledger", "export", "--ledger", str(ledger_path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert [row["principal"] for row in rows] == ["alice@corp", "bob@corp", "alice@corp", "bob@corp"]
    assert rows[1]["action"] == "block" and rows[1]["rules"] == "delete_without_where"
    assert rows[3]["payload"] == '{"request": "r-1"}'


# -- migrations --------------------------------------------------------------------------------


def test_version_1_ledger_is_upgraded_and_still_verifies(ledger_path, cli):
    old = SqliteLedger(ledger_path, target_version=1)
    assert old.version == 1
    alice, bob = RunIdentity(principal="alice@corp"), RunIdentity(principal="bob@corp")
    for identity in (alice, bob, alice):
        old.record_event("test_append", identity, {"n": 1})
    old.close()
    columns = [row[1] for row in sqlite3.connect(str(ledger_path)).execute("PRAGMA table_info(lineage_ledger)")]
    assert columns == ["seq", "prev_hash", "hash", "body"]

    upgraded = open_ledger(ledger_path)
    assert upgraded.version == 2
    versions = [row[0] for row in sqlite3.connect(str(ledger_path)).execute("SELECT version FROM lineage_ledger_schema ORDER BY version")]
    assert versions == [1, 2]
    assert upgraded.verify().ok and upgraded.verify().records == 3
    assert [entry.seq for entry in upgraded.entries(Filters(principal="alice@corp"))] == [1, 3]  # backfilled
    upgraded.record_event("test_append", bob, {"n": 2})
    assert cli("ledger", "verify", "--ledger", str(ledger_path)).code == 0


def test_ledger_from_a_newer_version_is_refused(ledger_path):
    fill(open_ledger(ledger_path), 1)
    sqlite3.connect(str(ledger_path), isolation_level=None).execute("INSERT INTO lineage_ledger_schema VALUES (99, 'later')")
    with pytest.raises(LedgerError, match="schema version 99 is newer"):
        open_ledger(ledger_path)


def test_ledger_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINEAGE_LEDGER_URL", raising=False)
    assert open_ledger().url == "sqlite:///.lineage/ledger.db" and (tmp_path / ".lineage" / "ledger.db").exists()
    assert open_ledger(f"sqlite:///{tmp_path}/abs.db").path == tmp_path / "abs.db"
    monkeypatch.setenv("LINEAGE_LEDGER_URL", "sqlite:///env.db")
    assert open_ledger().path == Path("env.db")
    with pytest.raises(LedgerError, match="not a ledger URL"):
        open_ledger("mysql://x/y")


# -- processes ---------------------------------------------------------------------------------


def test_eight_processes_open_a_fresh_ledger_and_append_to_one_chain(tmp_path):
    path = tmp_path / "fresh" / "ledger.db"
    processes = start_workers(str(path), 8, 30, pause=0.002)  # they also race to create the file and tables
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    ledger = open_ledger(path)
    assert ledger.version == 2
    assert_all_appended(ledger, 8, 30)


def test_kill_9_during_appends_leaves_a_chain_that_verifies(ledger_path, cli):
    open_ledger(ledger_path).close()
    kill_during_appends(str(ledger_path), lambda: open_ledger(ledger_path))
    ledger = open_ledger(ledger_path)
    ledger.record_event("after_kill", None, {})  # and appending goes on
    assert ledger.verify().ok
    assert cli("ledger", "verify", "--ledger", str(ledger_path)).code == 0


# -- no raw literal ----------------------------------------------------------------------------


def test_no_raw_literal_reaches_the_ledger_the_events_or_the_refusal_messages(ledger_path, loaded_policy, catalog, cli):
    from lineage.deliver.emit import EventEmitter, JsonlSink
    from lineage.deliver.governance import GovernanceEvents
    from lineage.governor import Governor, StatementBlocked

    ledger = SqliteLedger(ledger_path)
    engine = Engine(loaded_policy, catalog, dialect="postgres")
    events_path = ledger_path.parent / "events.jsonl"
    governor = Governor(engine, ledger=ledger, events=GovernanceEvents(EventEmitter([JsonlSink(events_path)]), engine))
    identity = RunIdentity(principal="alice@corp", environment="prod")

    def fails(sql):
        raise RuntimeError(f'invalid input syntax for type integer: "{SSN}"\nLINE 1: {sql}\nDETAIL: Key (ssn)=({SSN}) already exists.')

    with pytest.raises(RuntimeError):
        governor.execute(f"select id, name from crm.customers where ssn = '{SSN}'", identity, fails)
    refusals = []
    for sql in (f"delete from crm.customers where ssn = '{SSN}' or '{SSN}' = '{SSN}'",  # the finding quotes the WHERE
                f"SELEC ssn FRM crm.customers WHERE ssn = '{SSN}",
                f"DO $$ BEGIN PERFORM 1 FROM crm.customers WHERE ssn = '{SSN}'; END $$"):
        with pytest.raises(StatementBlocked) as refused:
            governor.execute(sql, identity, fails)
        refusals.append(str(refused.value))  # what a task log shows
    governor.execute(f"select id from crm.customers where ssn = '{SSN}'", identity, lambda sql: None)
    assert ledger.verify().records == 7
    assert "delete_without_where" in refusals[0] and "ssn = '?'" in refusals[0]
    assert not [text for text in refusals if "123-45" in text]
    assert "delete_without_where" in events_path.read_text()
    export = cli("ledger", "export", "--ledger", str(ledger_path), "--format", "csv").out
    ledger.close()
    for path in ledger_path.parent.iterdir():
        data = path.read_bytes()
        for needle in (SSN, SSN.replace("-", ""), "123-45"):
            assert needle.encode() not in data, f"{needle} found in {path.name}"
    assert SSN not in export and "ssn = ?" in export.lower().replace('"', "")
