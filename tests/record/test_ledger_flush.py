"""One disk flush per governed statement on the SQLite ledger: ``started`` is flushed before the
statement runs; its end (``finished``/``failed``) is committed at once but flushed with the next
durable write, at ``sync`` (a task's end), at ``close`` and at process exit.

What is flushed is observed directly: the ``synchronous`` level each commit ran at (FULL: SQLite
fsyncs the write-ahead log in the commit) and the fsyncs of the log ``sync`` makes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lineage.governor import Governor
from lineage.record.sqlite import SqliteLedger

ROOT = Path(__file__).resolve().parents[2]


def commit_levels(ledger: SqliteLedger, monkeypatch) -> list[tuple[str, int]]:
    """(kind/phase, PRAGMA synchronous at its COMMIT) for every append: 2 = FULL, 1 = NORMAL."""
    seen: list[tuple[str, int]] = []
    original = SqliteLedger._append

    def spying(self, body_text, columns, durable=True):
        entry = original(self, body_text, columns, durable)
        level = self._conn().execute("PRAGMA synchronous").fetchone()[0]
        seen.append((entry.body.get("phase") or entry.body["kind"], level))
        return entry

    monkeypatch.setattr(SqliteLedger, "_append", spying)
    return seen


def wal_fsyncs(monkeypatch) -> list[str]:
    calls: list[str] = []
    original = os.fsync

    def spying(fd):
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        return original(fd)

    monkeypatch.setattr(os, "fsync", spying)
    return calls


def test_started_is_flushed_in_its_commit_and_the_end_rides_on_the_next(tmp_path, monkeypatch, engine, identity):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    levels = commit_levels(ledger, monkeypatch)
    governor = Governor(engine, ledger=ledger)
    governor.execute("select id from crm.customers; select id from crm.orders", identity, lambda sql: None)
    ledger.record_event("role_issued", identity, {"role": "r"})
    assert levels == [("started", 2), ("finished", 1), ("started", 2), ("finished", 1), ("role_issued", 2)]
    assert ledger.verify().ok


def test_a_failed_end_is_deferred_too_and_an_unknown_one_is_not(tmp_path, monkeypatch, engine, identity):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    levels = commit_levels(ledger, monkeypatch)
    decision = engine.check("select id from crm.customers", identity)[0]
    for phase in ("started", "failed", "started", "unknown", "refused"):
        ledger.record_statement(identity, decision, phase, error="boom" if phase != "started" else None)
    assert levels == [("started", 2), ("failed", 1), ("started", 2), ("unknown", 2), ("refused", 2)]


def test_sync_and_close_flush_a_deferred_end(tmp_path, monkeypatch, engine, identity):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    decision = engine.check("select id from crm.customers", identity)[0]
    fsyncs = wal_fsyncs(monkeypatch)
    ledger.record_statement(identity, decision, "started")
    ledger.sync()
    assert fsyncs == []  # nothing deferred: the commit flushed it
    ledger.record_statement(identity, decision, "finished", rows=1)
    ledger.sync()
    assert fsyncs == [f"{tmp_path / 'ledger.db'}-wal"]
    ledger.sync()
    assert len(fsyncs) == 1  # flushed once
    ledger.record_statement(identity, decision, "started")
    ledger.record_statement(identity, decision, "finished", rows=1)
    ledger.close()
    assert fsyncs == [f"{tmp_path / 'ledger.db'}-wal"] * 2


def test_configured_normal_is_left_alone(tmp_path, monkeypatch, engine, identity):
    ledger = SqliteLedger(tmp_path / "ledger.db", synchronous="NORMAL")
    levels = commit_levels(ledger, monkeypatch)
    decision = engine.check("select id from crm.customers", identity)[0]
    ledger.record_statement(identity, decision, "started")
    ledger.record_statement(identity, decision, "finished")
    assert levels == [("started", 1), ("finished", 1)]


EXITING = r"""
import os, sys
from lineage.record.sqlite import SqliteLedger

flushed = []
original = os.fsync
os.fsync = lambda fd: (flushed.append(os.readlink(f"/proc/self/fd/{fd}")), original(fd))[1]
import atexit
atexit.register(lambda: print("fsynced:", *flushed, flush=True))  # runs after the ledger's own handler
ledger = SqliteLedger(sys.argv[1])
ledger.record_event("first", None, {})
ledger.append({"kind": "last", "v": 1}, durable=False)
"""


def test_a_deferred_end_is_flushed_at_process_exit(tmp_path):
    path = tmp_path / "ledger.db"
    result = subprocess.run([sys.executable, "-c", EXITING, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fsynced:", f"{path}-wal"]
    assert [entry.body["kind"] for entry in SqliteLedger(path).entries()] == ["first", "last"]


def test_closing_a_governed_connection_flushes_its_statements_ends(tmp_path, monkeypatch, loaded_policy, identity):
    import duckdb

    from lineage.adapters.dbapi import govern

    ledger = SqliteLedger(tmp_path / "ledger.db")
    connection = govern(duckdb.connect(), policy=loaded_policy, identity=identity, ledger=ledger)
    fsyncs = wal_fsyncs(monkeypatch)
    connection.execute("select 1")
    assert fsyncs == []
    connection.close()
    assert fsyncs == [f"{tmp_path / 'ledger.db'}-wal"]
    assert [entry.body.get("phase") for entry in ledger.entries() if entry.body["kind"] == "statement"][-2:] == ["started", "finished"]
