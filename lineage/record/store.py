"""What every ledger backend shares: records in, chained entries out, verification.

A backend (SQLite, PostgreSQL) implements four things: ``_append(body_text, columns)``
(atomically take the head, chain the record, move the head), ``_page(after, filters,
limit)`` (entries in sequence order), ``_snapshot()`` (a consistent read of head and
entries, for verification) and ``close()``. The rest is here, once.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from lineage.identity.run_identity import RunIdentity
from lineage.record.chain import Anchor, Entry, Verification, canonical_json, derived_columns, verify_entries
from lineage.record.record import event_record, now, statement_record
from lineage.model import Decision

PAGE = 2000
# A statement's end is flushed with the next durable write (the next statement's ``started``),
# at ``sync`` (the task's end) or at close/exit, not on its own: one disk flush per statement.
# A machine crash in between loses at most that end, and the statement reads as started without
# an outcome: unsettled (``lineage.record.outcomes``), as if the process had died while it ran.
# ``started`` (before the statement runs), ``refused``, ``unknown`` and events stay durable at once.
DEFERRED_PHASES = frozenset({"finished", "failed"})


class LedgerError(Exception):
    """A ledger that cannot be opened, read or written; the message names it (without password)."""


@dataclass(frozen=True)
class Filters:
    """Filters for ``entries``; the first five are indexed columns, ``table`` is matched in the body."""

    run_id: str | None = None
    principal: str | None = None
    action: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None
    table: str | None = None

    def column_filters(self) -> dict[str, str]:
        return {key: value for key, value in (("run_id", self.run_id), ("principal", self.principal), ("action", self.action), ("kind", self.kind)) if value}

    def matches_body(self, entry: Entry) -> bool:
        if not self.table:
            return True
        body = entry.body
        tables = body.get("tables") or {}
        wanted = self.table.lower()
        return any(_table_matches(name, wanted) for name in (*tables.get("read", ()), *tables.get("written", ())))


def _table_matches(name: str, wanted: str) -> bool:
    name = name.lower()
    return name == wanted or name.endswith("." + wanted)


class Ledger:
    """Append-only, hash-chained records of statements and governance events.

    Implements the governor's ``LedgerLike`` protocol (``record_statement``) and
    ``record_event`` for approvals, roles and other governance events.
    """

    url: str = ""

    def close(self) -> None:
        """Close this process's connection (a forked child never closes its parent's), after
        flushing what it appended to disk."""
        self.sync()
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def record_statement(self, identity: RunIdentity, decision: Decision, phase: str, **details: Any) -> Entry:
        return self.append(statement_record(identity, decision, phase, details), durable=phase not in DEFERRED_PHASES)

    def record_event(self, kind: str, identity: RunIdentity | None, payload: Mapping[str, Any]) -> Entry:
        return self.append(event_record(kind, identity, payload))

    def append(self, body: Mapping[str, Any], durable: bool = True) -> Entry:
        """Chain ``body`` onto the ledger. ``durable=False``: committed (it survives the process)
        but flushed to disk with the next durable append or ``sync`` (see ``DEFERRED_PHASES``)."""
        try:
            text = canonical_json(body)
        except (TypeError, ValueError) as error:
            raise LedgerError(f"{self.url}: the record is not plain JSON ({error}); nothing was written") from None
        return self._append(text, derived_columns(body), durable)

    def sync(self) -> None:
        """Flush to disk what this process appended with ``durable=False`` (a task's end, close, exit)."""

    def entries(self, filters: Filters | None = None, after: int = 0, limit: int | None = None) -> Iterator[Entry]:
        """Entries in sequence order, ``after`` a sequence number, matching ``filters``."""
        filters = filters or Filters()
        produced = 0
        while True:
            page = self._page(after, filters, PAGE)
            for entry in page:
                after = entry.seq
                if filters.matches_body(entry):
                    yield entry
                    produced += 1
                    if limit is not None and produced >= limit:
                        return
            if len(page) < PAGE:
                return

    def head(self) -> tuple[int, str]:
        with self._snapshot() as reader:
            return reader.head()

    def anchor(self) -> Anchor:
        seq, hash_ = self.head()
        return Anchor(seq, hash_, now(), self.url)

    def verify(self, anchor: Anchor | None = None) -> Verification:
        with self._snapshot() as reader:
            return verify_entries(reader.entries(), reader.head(), anchor)

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- for backends -------------------------------------------------------------------

    def _append(self, body_text: str, columns: Mapping[str, str | None], durable: bool = True) -> Entry:
        raise NotImplementedError

    def _page(self, after: int, filters: Filters, limit: int) -> list[Entry]:
        raise NotImplementedError

    def _snapshot(self) -> contextlib.AbstractContextManager["SnapshotReader"]:
        raise NotImplementedError


class SnapshotReader:
    """Head and entries read in one consistent snapshot (so concurrent appends do not look like tampering).

    ``connection`` is a DB-API connection inside that snapshot; ``placeholder`` its parameter style.
    """

    def __init__(self, connection: Any, select: str, placeholder: str):
        self.connection = connection
        self.select = select
        self.placeholder = placeholder

    def head(self) -> tuple[int, str]:
        seq, hash_ = self.connection.execute("SELECT seq, hash FROM lineage_ledger_head WHERE id = 1").fetchone()
        return int(seq), hash_

    def entries(self) -> Iterator[Entry]:
        after, p = 0, self.placeholder
        while True:
            rows = self.connection.execute(f"{self.select} WHERE seq > {p} ORDER BY seq LIMIT {p}", (after, PAGE)).fetchall()
            for row in rows:
                yield entry_from_row(row)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]


COLUMNS = ("time", "kind", "run_id", "principal", "action")


def where_clause(filters: Filters, placeholder: str) -> tuple[str, list[Any]]:
    """``AND ...`` conditions over the indexed columns; names are constants, values parameters."""
    clauses, params = [], []
    for column, value in filters.column_filters().items():
        clauses.append(f"{column} = {placeholder}")
        params.append(value)
    if filters.since:
        clauses.append(f"time >= {placeholder}")
        params.append(filters.since)
    if filters.until:
        clauses.append(f"time <= {placeholder}")
        params.append(filters.until)
    return "".join(f" AND {clause}" for clause in clauses), params


def entry_from_row(row: tuple) -> Entry:
    seq, prev_hash, hash_, body, *columns = row
    return Entry(int(seq), prev_hash, hash_, body, dict(zip(COLUMNS, columns)) if columns else {})
