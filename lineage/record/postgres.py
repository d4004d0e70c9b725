"""The ledger on PostgreSQL, for many workers on many machines (``LINEAGE_LEDGER_URL=postgresql://...``).

A connection the server dropped (a restart) is replaced once, transparently: the append looks
for its record first and appends only if it is not there. An append is one statement in its own transaction: move the head row one step (its
``SET`` reads the old sequence and hash, so the server chains the record with its own
``sha256`` right there) and insert the record the ``RETURNING`` clause describes.
Concurrent appenders queue on the head row's lock only for that statement, and each
updates the head its predecessor left (PostgreSQL re-evaluates an ``UPDATE`` on the newest
row version after waiting), so there is one chain however many writers there are. The server computes exactly the
hash ``lineage.record.chain.chain_hash`` defines; verification recomputes it in Python.

Durability without a queue: a commit that waits for its WAL flush would hold the head
row's lock through the flush, and appenders would take turns at disk speed. So the append
commits asynchronously (the lock goes at once) and the appender then waits for the flush
with a tiny synchronous transaction of its own (``pg_current_xact_id()``: its commit record
lies after the append's, so its flush covers it). Those waits overlap across writers and
share flushes (group commit). ``record_*`` returns only once the record is durable, as a
plain synchronous commit would; a server crash before that loses the record and, with it,
every later one (the WAL is replayed in order), so the chain stays whole. Servers that run
with ``synchronous_commit=off`` get neither wait. A statement's end (``durable=False``,
``lineage.record.store.DEFERRED_PHASES``) skips the wait: the next durable append's flush, or
``sync``, covers it (and the server's WAL writer flushes it within a fraction of a second).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Iterator, Mapping

from lineage.locations import without_password
from lineage.record.chain import Entry
from lineage.record.migrations import POSTGRES, SchemaTooNew, backfill_sql, migrate, version_sql
from lineage.record.record import now
from lineage.record.store import PAGE, Filters, Ledger, LedgerError, SnapshotReader, entry_from_row, where_clause

APPLICATION_NAME = "lineage-ledger"
_LOCK_KEY = 0x6C696E6C65646772  # "linledgr": serialises schema migrations across workers

_MOVE_HEAD = """
WITH moved AS (
    UPDATE lineage_ledger_head
    SET seq = seq + 1, prev_hash = hash,
        hash = encode(sha256(convert_to((seq + 1)::text || ':' || hash || ':' || %(body)s, 'UTF8')), 'hex')
    WHERE id = 1
    RETURNING seq, prev_hash, hash
)
"""
APPEND = _MOVE_HEAD + """INSERT INTO lineage_ledger (seq, prev_hash, hash, body, time, kind, run_id, principal, action)
SELECT seq, prev_hash, hash, %(body)s, %(time)s, %(kind)s, %(run_id)s, %(principal)s, %(action)s FROM moved
RETURNING seq, prev_hash, hash"""
APPEND_V1 = _MOVE_HEAD + """INSERT INTO lineage_ledger (seq, prev_hash, hash, body) SELECT seq, prev_hash, hash, %(body)s FROM moved
RETURNING seq, prev_hash, hash"""
_FIND = "SELECT seq, prev_hash, hash FROM lineage_ledger WHERE time = %s AND body = %s"
_FIND_V1 = "SELECT seq, prev_hash, hash FROM lineage_ledger WHERE body = %s"
_SELECT = "SELECT seq, prev_hash, hash, body, time, kind, run_id, principal, action FROM lineage_ledger"
_SELECT_V1 = "SELECT seq, prev_hash, hash, body FROM lineage_ledger"

_SHOW_SYNC = "SHOW synchronous_commit"
_ASYNC = "SET synchronous_commit = off"
_DURABLE = {level: f"BEGIN; SET LOCAL synchronous_commit = {level}; SELECT pg_current_xact_id(); COMMIT" for level in ("on", "local", "remote_write", "remote_apply")}
_EXISTS = "SELECT to_regclass('lineage_ledger_schema') IS NOT NULL"
_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS lineage_ledger_schema (version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
_SCHEMA_VERSION = "SELECT COALESCE(MAX(version), 0) FROM lineage_ledger_schema"


def ledger_statements() -> tuple[str, ...]:
    """Every statement text this backend may send (for ``lineage correlate`` to recognise)."""
    migrations = tuple(statement for steps in POSTGRES.values() for statement in steps if statement != "<backfill>")
    return (APPEND, APPEND_V1, _FIND, _FIND_V1, _SHOW_SYNC, _ASYNC, *_DURABLE.values(), _EXISTS, _LOCK, _SCHEMA_TABLE, _SCHEMA_VERSION, backfill_sql("%s"), version_sql("%s"), *migrations)


# connections inherited over fork() must never be closed by the child (that would end the parent's session)
_INHERITED: list[Any] = []


class PostgresLedger(Ledger):

    def __init__(self, url: str, create: bool = True, target_version: int | None = None):
        try:
            import psycopg
        except ImportError as error:  # pragma: no cover - depends on extras
            raise LedgerError("a PostgreSQL ledger needs the 'postgres' extra (psycopg)") from error
        self._psycopg = psycopg
        self.dsn = url
        self.url = without_password(url)
        self._lock = threading.Lock()
        self._connection: Any = None
        self._durable: str | None = None
        self._unsynced = False
        self._pid = 0
        self._create = create
        self._migrate(target_version)

    def _connect(self, autocommit: bool = True) -> Any:
        try:
            return self._psycopg.connect(self.dsn, autocommit=autocommit, application_name=APPLICATION_NAME, connect_timeout=10)
        except self._psycopg.Error as error:
            raise LedgerError(f"{self.url}: cannot connect to the ledger database: {_first_line(error)}") from None

    def _conn(self) -> Any:
        if self._connection is None or self._pid != os.getpid() or self._connection.closed:
            if self._connection is not None and self._pid != os.getpid():
                _INHERITED.append(self._connection)
            self._connection = self._connect()
            self._pid = os.getpid()
            self._durable = _DURABLE.get(self._connection.execute(_SHOW_SYNC).fetchone()[0])
            if self._durable is not None:
                self._connection.execute(_ASYNC)
        return self._connection

    def _migrate(self, target_version: int | None) -> None:
        with self._lock:
            connection = self._conn()
            try:
                exists = connection.execute(_EXISTS).fetchone()[0]
                if not exists and not self._create:
                    raise LedgerError(f"{self.url}: no ledger in this database (nothing has been recorded yet, or the URL is wrong)")
                with connection.transaction():
                    connection.execute(_LOCK, (_LOCK_KEY,))
                    connection.execute(_SCHEMA_TABLE)
                    current = connection.execute(_SCHEMA_VERSION).fetchone()[0]
                    kwargs = {"target": target_version} if target_version is not None else {}
                    version = migrate(connection.execute, "%s", POSTGRES, current, now(), where=self.url, **kwargs)
            except SchemaTooNew as error:
                raise LedgerError(str(error)) from None
            except self._psycopg.Error as error:
                raise LedgerError(f"{self.url}: cannot prepare the ledger tables: {_first_line(error)}") from None
            self.version = version
            self._columns = version >= 2

    def _append(self, body_text: str, columns: Mapping[str, str | None], durable: bool = True) -> Entry:
        """One append. When the connection turns out to be gone (the server restarted), it
        connects once more, looks for the record first (the append may have committed before
        the connection went) and appends only if it is not there: no record twice, none lost."""
        params = {"body": body_text, **columns}
        with self._lock:
            try:
                row = self._append_on(self._conn(), params, durable)
            except self._psycopg.Error as error:
                if not self._lost(error):
                    raise LedgerError(f"{self.url}: cannot append to the ledger: {_first_line(error)}") from None
                self._forget_connection()
                try:
                    connection = self._conn()
                    row = self._appended(connection, body_text, columns) or self._append_on(connection, params, durable)
                except self._psycopg.Error as again:
                    raise LedgerError(f"{self.url}: cannot append to the ledger (connected again after: {_first_line(error)}): {_first_line(again)}") from None
        seq, prev_hash, hash_ = row
        return Entry(int(seq), prev_hash, hash_, body_text, dict(columns))

    def _append_on(self, connection: Any, params: dict, durable: bool = True) -> tuple:
        row = connection.execute(APPEND if self._columns else APPEND_V1, params).fetchone()
        if self._durable is not None:
            if durable:
                connection.execute(self._durable)  # returns once the append's commit (and every earlier one) is flushed
                self._unsynced = False
            else:
                self._unsynced = True  # the next durable append or ``sync`` waits for its flush
        return row

    def sync(self) -> None:
        """Wait until what this process appended with ``durable=False`` is flushed."""
        with self._lock:
            if not self._unsynced or self._connection is None or self._pid != os.getpid():
                return
            try:
                self._connection.execute(self._durable)
            except self._psycopg.Error as error:
                raise LedgerError(f"{self.url}: cannot flush the ledger: {_first_line(error)}") from None
            self._unsynced = False

    def _appended(self, connection: Any, body_text: str, columns: Mapping[str, str | None]) -> tuple | None:
        """The record already in the ledger with exactly this body (its time makes it unique)."""
        if self._columns:
            return connection.execute(_FIND, (columns.get("time"), body_text)).fetchone()
        return connection.execute(_FIND_V1, (body_text,)).fetchone()

    def _forget_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._pid == os.getpid():
            try:
                connection.close()
            except Exception:
                pass

    def _lost(self, error: Exception) -> bool:
        """The connection is gone (the server restarted or dropped it), as opposed to an error of the statement."""
        connection = self._connection
        if connection is None or connection.broken or connection.closed:
            return True
        state = getattr(error, "sqlstate", None)
        return isinstance(error, self._psycopg.OperationalError) and (state is None or state.startswith(("08", "57P")))

    def _page(self, after: int, filters: Filters, limit: int) -> list[Entry]:
        where, params = where_clause(filters, "%s")
        query = f"{self._select()} WHERE seq > %s{where} ORDER BY seq LIMIT %s"
        with self._lock:
            try:
                rows = self._conn().execute(query, [after, *params, limit]).fetchall()
            except self._psycopg.Error as error:
                if not self._lost(error):
                    raise LedgerError(f"{self.url}: cannot read the ledger: {_first_line(error)}") from None
                self._forget_connection()  # reading is harmless to repeat: once, on a new connection
                try:
                    rows = self._conn().execute(query, [after, *params, limit]).fetchall()
                except self._psycopg.Error as again:
                    raise LedgerError(f"{self.url}: cannot read the ledger: {_first_line(again)}") from None
        return [entry_from_row(row) for row in rows]

    def _select(self) -> str:
        return _SELECT if self._columns else _SELECT_V1

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[SnapshotReader]:
        connection = self._connect(autocommit=False)
        connection.isolation_level = self._psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        try:
            yield SnapshotReader(connection, self._select(), "%s")
        except self._psycopg.Error as error:
            raise LedgerError(f"{self.url}: cannot read the ledger: {_first_line(error)}") from None
        finally:
            connection.rollback()
            connection.close()



def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
