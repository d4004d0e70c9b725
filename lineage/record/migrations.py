"""Schema versions of the ledger's tables, and the steps from each to the next.

``lineage_ledger_schema`` holds one row per applied version. Opening a ledger applies the
missing steps in one transaction, under a lock, so many workers opening it at once agree;
a ledger newer than this code is refused rather than written in a format it does not know.

    version 1: the chain: lineage_ledger(seq, prev_hash, hash, body) and its head row
    version 2: columns derived from the body (time, kind, run_id, principal, action) for
               filtering, with indexes, filled in for existing records; append-only triggers

Migrations never touch a body, a hash or a sequence number, so a migrated ledger verifies
exactly as before.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from lineage.record.chain import GENESIS, derived_columns

CURRENT_VERSION = 2

SQLITE: dict[int, list[str]] = {
    1: [
        "CREATE TABLE lineage_ledger (seq INTEGER PRIMARY KEY, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE TABLE lineage_ledger_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)",
        f"INSERT INTO lineage_ledger_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
    ],
    2: [
        "ALTER TABLE lineage_ledger ADD COLUMN time TEXT",
        "ALTER TABLE lineage_ledger ADD COLUMN kind TEXT",
        "ALTER TABLE lineage_ledger ADD COLUMN run_id TEXT",
        "ALTER TABLE lineage_ledger ADD COLUMN principal TEXT",
        "ALTER TABLE lineage_ledger ADD COLUMN action TEXT",
        "<backfill>",
        "CREATE INDEX lineage_ledger_run_id ON lineage_ledger (run_id)",
        "CREATE INDEX lineage_ledger_principal ON lineage_ledger (principal)",
        "CREATE INDEX lineage_ledger_time ON lineage_ledger (time)",
        "CREATE TRIGGER lineage_ledger_no_update BEFORE UPDATE ON lineage_ledger BEGIN SELECT RAISE(ABORT, 'the lineage ledger is append-only'); END",
        "CREATE TRIGGER lineage_ledger_no_delete BEFORE DELETE ON lineage_ledger BEGIN SELECT RAISE(ABORT, 'the lineage ledger is append-only'); END",
    ],
}

POSTGRES: dict[int, list[str]] = {
    1: [
        "CREATE TABLE lineage_ledger (seq BIGINT PRIMARY KEY, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)",
        "CREATE TABLE lineage_ledger_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
        f"INSERT INTO lineage_ledger_head (id, seq, prev_hash, hash) VALUES (1, 0, '', '{GENESIS}')",
    ],
    2: [
        "ALTER TABLE lineage_ledger ADD COLUMN time TEXT, ADD COLUMN kind TEXT, ADD COLUMN run_id TEXT, ADD COLUMN principal TEXT, ADD COLUMN action TEXT",
        "<backfill>",
        "CREATE INDEX lineage_ledger_run_id ON lineage_ledger (run_id)",
        "CREATE INDEX lineage_ledger_principal ON lineage_ledger (principal)",
        "CREATE INDEX lineage_ledger_time ON lineage_ledger (time)",
        "CREATE FUNCTION lineage_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the lineage ledger is append-only (% refused)', TG_OP; END $$",
        "CREATE TRIGGER lineage_ledger_no_change BEFORE UPDATE OR DELETE ON lineage_ledger FOR EACH ROW EXECUTE FUNCTION lineage_ledger_append_only()",
        "CREATE TRIGGER lineage_ledger_no_truncate BEFORE TRUNCATE ON lineage_ledger FOR EACH STATEMENT EXECUTE FUNCTION lineage_ledger_append_only()",
    ],
}


class SchemaTooNew(Exception):
    pass


def version_sql(p: str) -> str:
    return f"INSERT INTO lineage_ledger_schema (version, applied_at) VALUES ({p}, {p})"


def backfill_sql(p: str) -> str:
    return f"UPDATE lineage_ledger SET time = {p}, kind = {p}, run_id = {p}, principal = {p}, action = {p} WHERE seq = {p}"


def migrate(execute: Callable[..., Any], placeholder: str, steps: dict[int, list[str]], current: int, now: str, target: int = CURRENT_VERSION, where: str = "ledger") -> int:
    """Apply the steps after ``current`` up to ``target``; the caller holds the transaction and lock.

    ``execute(sql, params=())`` runs one statement and returns a cursor.
    """
    if current > CURRENT_VERSION:
        raise SchemaTooNew(f"{where}: schema version {current} is newer than this lineage-governance understands ({CURRENT_VERSION}); upgrade lineage-governance")
    for version in range(current + 1, target + 1):
        for statement in steps[version]:
            if statement == "<backfill>":
                backfill(execute, placeholder)
            else:
                execute(statement)
        execute(version_sql(placeholder), (version, now))
    return max(current, target)


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    """Fill the derived columns of existing records from their bodies."""
    rows = execute("SELECT seq, body FROM lineage_ledger ORDER BY seq").fetchall()
    for seq, body in rows:
        try:
            columns = derived_columns(json.loads(body))
        except ValueError:
            continue  # a damaged body stays as it is; verification reports it
        execute(
            backfill_sql(placeholder),
            (columns["time"], columns["kind"], columns["run_id"], columns["principal"], columns["action"], seq),
        )
