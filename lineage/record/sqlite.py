"""The default ledger: one SQLite file (``.lineage/ledger.db`` under the working directory).

An append is one ``BEGIN IMMEDIATE`` transaction (read the head, insert the chained
record, move the head), so any number of processes on one machine append to one valid
chain: SQLite lets one writer in at a time and the others retry after a short random
pause (SQLite's own busy handler sleeps up to 100 ms at a time, which lets one busy
writer starve the others; ours waits at most a few milliseconds). WAL mode
keeps readers from blocking writers; ``synchronous=FULL`` makes every committed record
survive a crash of the machine, not just of the process. A process killed mid-append
leaves no partial record: the transaction either committed or rolls back on the next open.

One flush per statement: a statement's end (``finished``/``failed``, ``durable=False``) commits
with ``synchronous=NORMAL`` (it survives the process at once) and reaches the disk with the next
durable commit, whose flush of the write-ahead log covers every frame before it, or with ``sync``
(an fsync of that log: the task's end, ``close``, process exit). A machine crash before then
loses that end and whatever followed it, never a record in the middle, so the chain stays whole.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Iterator, Mapping

from lineage.record.chain import Entry, chain_hash
from lineage.record.migrations import SQLITE, SchemaTooNew, migrate
from lineage.record.record import now
from lineage.record.store import PAGE, Filters, Ledger, LedgerError, SnapshotReader, entry_from_row, where_clause

log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 60.0
_LOCKED = ("locked", "busy")
# connections inherited over fork() are kept, never closed by the child
_INHERITED: list[sqlite3.Connection] = []
_SELECT = "SELECT seq, prev_hash, hash, body, time, kind, run_id, principal, action FROM lineage_ledger"
_INSERT = "INSERT INTO lineage_ledger (seq, prev_hash, hash, body, time, kind, run_id, principal, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


class SqliteLedger(Ledger):
    def __init__(self, path: str | Path, create: bool = True, synchronous: str = "FULL", target_version: int | None = None):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.synchronous = synchronous
        if not self.path.exists():
            if not create:
                raise LedgerError(f"{self.path}: no ledger here (nothing has been recorded yet, or the path is wrong)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._columns = True
        self._create = create
        # a statement's end may wait for the next flush only where every commit is flushed anyway
        self._deferrable = synchronous.upper() in ("FULL", "EXTRA")
        self._relaxed = False  # the connection commits with synchronous=NORMAL right now
        self._unsynced = False  # this process committed records not yet flushed
        self._at_exit = False
        if not create:
            self._check_is_ledger()
        self._migrate(target_version)

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(str(self.path), timeout=0, isolation_level=None, check_same_thread=False)
            retry_while_locked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
        except sqlite3.Error as error:
            raise LedgerError(f"{self.path}: cannot open the ledger: {error}") from None
        return connection

    def _conn(self) -> sqlite3.Connection:
        # a connection must not cross fork(): Airflow and multiprocessing workers get their own
        if self._connection is None or self._pid != os.getpid():
            if self._connection is not None:
                _INHERITED.append(self._connection)  # closing it here could disturb the parent's file locks and WAL
            self._connection = self._connect()
            self._pid = os.getpid()
            self._relaxed = self._unsynced = False  # a forked child's parent flushes its own
        return self._connection

    def _check_is_ledger(self) -> None:
        """Before touching a file a read-only command was pointed at (WAL mode is persistent)."""
        try:
            probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
            try:
                found = probe.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lineage_ledger_schema'").fetchone()
            finally:
                probe.close()
        except sqlite3.DatabaseError as error:
            raise LedgerError(f"{self.path}: not a usable ledger: {error}") from None
        if not found:
            raise LedgerError(f"{self.path}: not a ledger (no lineage_ledger_schema table)")

    def _migrate(self, target_version: int | None) -> None:
        with self._lock:
            connection = self._conn()
            try:
                retry_while_locked(lambda: connection.execute("BEGIN IMMEDIATE"))
                try:
                    connection.execute("CREATE TABLE IF NOT EXISTS lineage_ledger_schema (version INTEGER NOT NULL, applied_at TEXT NOT NULL)")
                    current = connection.execute("SELECT COALESCE(MAX(version), 0) FROM lineage_ledger_schema").fetchone()[0]
                    kwargs = {"target": target_version} if target_version is not None else {}
                    version = migrate(connection.execute, "?", SQLITE, current, now(), where=str(self.path), **kwargs)
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            except SchemaTooNew as error:
                raise LedgerError(str(error)) from None
            except sqlite3.DatabaseError as error:
                raise LedgerError(f"{self.path}: not a usable ledger: {error}") from None
            self.version = version
            self._columns = version >= 2

    # -- append -------------------------------------------------------------------------

    def _append(self, body_text: str, columns: Mapping[str, str | None], durable: bool = True) -> Entry:
        with self._lock:
            connection = self._conn()
            try:
                relax = self._deferrable and not durable
                if relax != self._relaxed:
                    connection.execute(f"PRAGMA synchronous={'NORMAL' if relax else self.synchronous}")
                    self._relaxed = relax
                retry_while_locked(lambda: connection.execute("BEGIN IMMEDIATE"))
                try:
                    seq, prev_hash = connection.execute("SELECT seq, hash FROM lineage_ledger_head WHERE id = 1").fetchone()
                    seq += 1
                    hash_ = chain_hash(seq, prev_hash, body_text)
                    if self._columns:
                        connection.execute(_INSERT, (seq, prev_hash, hash_, body_text, columns["time"], columns["kind"], columns["run_id"], columns["principal"], columns["action"]))
                    else:
                        connection.execute("INSERT INTO lineage_ledger (seq, prev_hash, hash, body) VALUES (?, ?, ?, ?)", (seq, prev_hash, hash_, body_text))
                    connection.execute("UPDATE lineage_ledger_head SET seq = ?, hash = ? WHERE id = 1", (seq, hash_))
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise LedgerError(f"{self.path}: cannot append to the ledger: {error}") from None
            if relax and not self._unsynced:
                self._unsynced = True
                if not self._at_exit:
                    self._at_exit = True
                    atexit.register(_sync_at_exit, weakref.ref(self))
            elif not relax:
                self._unsynced = False  # this commit's flush covered the log before it
        return Entry(seq, prev_hash, hash_, body_text, dict(columns))

    def sync(self) -> None:
        """Flush the write-ahead log (every record committed before is on disk afterwards)."""
        with self._lock:
            if not self._unsynced or self._pid != os.getpid():
                return
            try:
                fd = os.open(f"{self.path}-wal", os.O_RDONLY)
            except FileNotFoundError:  # the last connection checkpointed it into the (flushed) database
                self._unsynced = False
                return
            except OSError as error:
                raise LedgerError(f"{self.path}: cannot flush the ledger: {error}") from None
            try:
                os.fsync(fd)
            except OSError as error:
                raise LedgerError(f"{self.path}: cannot flush the ledger: {error}") from None
            finally:
                os.close(fd)
            self._unsynced = False

    # -- read ---------------------------------------------------------------------------

    def _page(self, after: int, filters: Filters, limit: int) -> list[Entry]:
        where, params = where_clause(filters, "?")
        with self._lock:
            try:
                connection = self._conn()
                rows = retry_while_locked(lambda: connection.execute(f"{self._select()} WHERE seq > ?{where} ORDER BY seq LIMIT ?", [after, *params, limit]).fetchall())
            except sqlite3.Error as error:
                raise LedgerError(f"{self.path}: cannot read the ledger: {error}") from None
        return [entry_from_row(row) for row in rows]

    def _select(self) -> str:
        return _SELECT if self._columns else "SELECT seq, prev_hash, hash, body FROM lineage_ledger"

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[SnapshotReader]:
        connection = self._connect()
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")  # a reader only waits for recovery
        try:
            connection.execute("BEGIN")  # a WAL read transaction: one snapshot for head and records
            yield SnapshotReader(connection, self._select(), "?")
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise LedgerError(f"{self.path}: cannot read the ledger: {error}") from None
        finally:
            connection.close()


def _sync_at_exit(reference: "weakref.ref[SqliteLedger]") -> None:
    ledger = reference()
    if ledger is None:
        return
    try:
        ledger.sync()
    except Exception as error:  # at exit: say so, a traceback helps nobody
        log.error("lineage ledger: %s; the last statement ends recorded may not survive a crash of the machine", error)


def retry_while_locked(operation):
    """Run ``operation`` until the file is not locked by another writer (up to the timeout).

    Pauses are short and random so that waiting writers take turns; switching a fresh file
    to WAL (which needs the file to itself) and recovery after a killed writer retry here too.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    attempt = 0
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as error:
            if not any(word in str(error) for word in _LOCKED) or time.monotonic() > deadline:
                raise
            attempt += 1
            time.sleep(random.uniform(0, min(0.005, 0.0001 * 2 ** min(attempt, 6))))

