"""The tamper-evident ledger: one hash-chained record per governed statement and governance event.

    ledger = open_ledger()                      # $LINEAGE_LEDGER_URL, else .lineage/ledger.db
    governor = Governor(engine, ledger=ledger)  # records refused/started/finished/failed
    ledger.verify()                             # -> Verification(ok=True, records=..., ...)

URLs: ``postgresql://user@host/db`` (or ``postgres://``) for PostgreSQL; ``sqlite:///relative/path.db``,
``sqlite:////absolute/path.db`` or a plain file path for SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path

from lineage.locations import location
from lineage.record.chain import GENESIS, Anchor, Entry, Verification, canonical_json, chain_hash, verify_entries
from lineage.record.record import event_record, statement_record
from lineage.record.store import Filters, Ledger, LedgerError

DEFAULT_PATH = Path(".lineage") / "ledger.db"
ENV_VAR = "LINEAGE_LEDGER_URL"

__all__ = [
    "Anchor", "Entry", "Filters", "GENESIS", "Ledger", "LedgerError", "Verification",
    "canonical_json", "chain_hash", "default_url", "event_record", "open_ledger", "statement_record", "verify_entries",
]


def default_url() -> str:
    return os.environ.get(ENV_VAR) or str(DEFAULT_PATH)


def open_ledger(url: str | os.PathLike | None = None, create: bool = True) -> Ledger:
    """The ledger at ``url`` (default ``$LINEAGE_LEDGER_URL``, else ``.lineage/ledger.db``).

    ``create=False`` (for commands that only read) refuses to make a new, empty ledger.
    """
    where = location(url if url is not None else default_url())
    if where.is_postgres:
        from lineage.record.postgres import PostgresLedger

        return PostgresLedger(where.text, create=create)
    if where.kind not in ("sqlite", "path"):
        raise LedgerError(f"{where.scheme}://...: not a ledger URL (use postgresql://..., sqlite:///path or a file path)")
    from lineage.record.sqlite import SqliteLedger

    return SqliteLedger(where.path, create=create)
