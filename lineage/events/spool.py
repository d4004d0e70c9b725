"""A durable spool in front of the OpenLineage transport: emit never waits for the backend.

    spool.write(event_json)     one INSERT into SQLite (WAL): tens of microseconds, then returns
    sender thread               oldest first: OpenLineageClient.emit(event) -> DELETE on success;
                                a failure is retried (same event, exponential backoff), so order holds

Guarantees and limits (also in the README):

- **Durable**: an event is on disk when ``write`` returns. With the backend down events wait
  there and survive a crash or restart of the process; the next process that opens the spool
  (or ``lineage events flush``) delivers them. ``synchronous=NORMAL`` (the default) survives a
  process crash; ``LINEAGE_EVENTS_SPOOL_SYNC=FULL`` also survives power loss, at an fsync per event.
- **In order, once**: one sender per spool file (an ``flock`` on ``<spool>.lock``, across
  processes) sends the oldest event, and deletes it in the same moment it learns the backend
  accepted it. Only a crash between the backend's answer and that delete, or an answer that
  never arrives (a read timeout), makes the sender send that one event again.
- **Rejections are kept**: an event the backend refuses for good (a 4xx such as Marquez's 422)
  moves to the ``rejected`` table with the answer, so it never blocks the events behind it;
  ``lineage events status`` shows it and ``lineage events requeue`` sends it again.
- **Bounded**: past ``LINEAGE_EVENTS_SPOOL_MAX_EVENTS`` (100,000) events or
  ``LINEAGE_EVENTS_SPOOL_MAX_BYTES`` (256 MiB) pending, new events are not stored: each one is
  counted as dropped and a warning says so (at 80% a first warning). The pipeline never stalls
  on lineage; the ledger still records every statement.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from lineage.events.transport import describe_error, is_permanent, new_client, revive, transport_description

log = logging.getLogger(__name__)

DEFAULT_PATH = ".lineage/events-spool.db"
DEFAULT_MAX_EVENTS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
NEAR_FULL = 0.8
BATCH = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    rejected REAL NOT NULL,
    reason TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def default_path(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("LINEAGE_EVENTS_SPOOL") or DEFAULT_PATH)


@dataclass
class SpoolStatus:
    path: str
    pending: int
    pending_bytes: int
    oldest_pending_seconds: float | None
    delivered: int
    rejected: int
    dropped: int
    max_events: int
    max_bytes: int
    last_error: str | None = None
    last_error_at: float | None = None
    last_delivery_at: float | None = None
    sender_pid: int | None = None
    transport: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FlushResult:
    delivered: int = 0
    rejected: int = 0
    remaining: int = 0
    error: str | None = None
    busy_pid: int | None = None
    notes: list[str] = field(default_factory=list)


class _SenderLock:
    """An exclusive ``flock`` on ``<spool>.lock``: one sender per spool, across processes.
    The operating system drops it when the holder exits or crashes."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            finally:
                self.fd = None

    @staticmethod
    def holder(path: Path) -> int | None:
        """The pid of the process holding the lock, or None when nobody sends."""
        import fcntl

        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                text = os.pread(fd, 32, 0).decode(errors="ignore").strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


# No thread may be inside SQLite when the process forks: a child would wait forever for a
# mutex held by a thread it does not have (Airflow forks its task processes). Every SQLite call
# of the spool holds this gate, and fork() waits for it.
_GATE = threading.RLock()
_ABANDONED: list = []  # a parent's connections, never touched (not even closed) in a child


def _gate() -> threading.RLock:
    return _GATE


def _reset_gate() -> None:
    global _GATE
    _GATE = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: _GATE.acquire(), after_in_parent=lambda: _GATE.release(), after_in_child=_reset_gate)


class _Db:
    """One SQLite connection (WAL); every call holds the fork gate."""

    def __init__(self, path: Path, synchronous: str, autocheckpoint: bool):
        with _gate():
            self.connection = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute(f"PRAGMA synchronous={synchronous}")
            if not autocheckpoint:
                # the sender thread checkpoints; an emit never pays for copying the WAL back
                self.connection.execute("PRAGMA wal_autocheckpoint=0")

    def rows(self, sql: str, params: tuple = ()) -> list:
        with _gate():
            return self.connection.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple = ()):
        return self.rows(sql, params)[0]

    def run(self, sql: str, params: tuple = ()) -> int | None:
        """Execute one statement; returns the rowid an INSERT made."""
        with _gate():
            return self.connection.execute(sql, params).lastrowid

    def script(self, sql: str) -> None:
        with _gate():
            self.connection.executescript(sql)

    def transaction(self, *statements: tuple[str, tuple]) -> None:
        with _gate():
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self.connection.execute(sql, params)
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def close(self) -> None:
        with _gate():
            self.connection.close()


class Spool:
    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        max_events: int | None = None,
        max_bytes: int | None = None,
        client_factory: Callable[[], Any] = new_client,
        sender: bool = True,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        poll_interval: float = 0.5,
        synchronous: str | None = None,
        exit_wait: float | None = None,
    ):
        env = os.environ
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.max_events = int(max_events or env.get("LINEAGE_EVENTS_SPOOL_MAX_EVENTS") or DEFAULT_MAX_EVENTS)
        self.max_bytes = int(max_bytes or env.get("LINEAGE_EVENTS_SPOOL_MAX_BYTES") or DEFAULT_MAX_BYTES)
        self.synchronous = (synchronous or env.get("LINEAGE_EVENTS_SPOOL_SYNC") or "NORMAL").upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"LINEAGE_EVENTS_SPOOL_SYNC must be NORMAL, FULL or EXTRA, not {self.synchronous!r}")
        self.exit_wait = float(exit_wait if exit_wait is not None else env.get("LINEAGE_EVENTS_EXIT_WAIT", "2"))
        self.client_factory = client_factory
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.poll_interval = poll_interval
        self.sender_enabled = sender
        self._setup()
        self._writer.script(SCHEMA)
        self._refresh_counts()
        if sender:
            self.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- writing (the pipeline's side) -------------------------------------------------------

    def _setup(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._writer = _Db(self.path, self.synchronous, autocheckpoint=not self.sender_enabled)
        self._wake = threading.Event()
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._holding = False
        self._pending = 0
        self._bytes = 0
        self._dropped_since_warning = 0
        self._last_full_warning = 0.0
        self._near_warned = False
        self._closed = False
        self._last_written = 0  # the newest event this process stored (close waits for it, not for other processes')

    def write(self, body: str) -> bool:
        """Store one serialised event; False when the spool is full (the event is counted as dropped)."""
        if os.getpid() != self._pid:
            self._after_fork()
        size = len(body)
        with self._lock:
            if self._pending >= self.max_events or self._bytes + size > self.max_bytes:
                self._refresh_counts()
                if self._pending >= self.max_events or self._bytes + size > self.max_bytes:
                    self._drop()
                    return False
            try:
                self._last_written = self._writer.run("INSERT INTO events (created, size, body) VALUES (?, ?, ?)", (time.time(), size, body)) or self._last_written
            except sqlite3.Error as error:
                log.error("lineage events: could not store an event in the spool %s (%s); it is lost", self.path, error)
                return False
            self._pending += 1
            self._bytes += size
            if not self._near_warned and (self._pending >= NEAR_FULL * self.max_events or self._bytes >= NEAR_FULL * self.max_bytes):
                self._near_warned = True
                log.warning(
                    "lineage events spool %s is %d%% full (%d events, %.1f MiB): the OpenLineage backend is not keeping up; "
                    "`lineage events status` shows why",
                    self.path, 100 * max(self._pending / self.max_events, self._bytes / self.max_bytes), self._pending, self._bytes / 2**20,
                )
        self._wake.set()
        return True

    def _refresh_counts(self) -> None:
        count, total = self._writer.one("SELECT count(*), coalesce(sum(size), 0) FROM events")
        self._pending, self._bytes = count, total
        if count < NEAR_FULL * self.max_events and total < NEAR_FULL * self.max_bytes:
            self._near_warned = False

    def _drop(self) -> None:
        try:
            self._writer.transaction(
                ("INSERT INTO counters (name, value) VALUES ('dropped', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", ()),
                ("INSERT OR REPLACE INTO notes (name, value) VALUES ('last_dropped_at', ?)", (str(time.time()),)),
            )
        except sqlite3.Error:
            pass
        self._dropped_since_warning += 1
        now = time.monotonic()
        if self._last_full_warning == 0.0 or now - self._last_full_warning > 60 or self._dropped_since_warning >= 1000:
            log.warning(
                "lineage events spool %s is FULL (%d events, %.1f MiB; limits %d events, %.0f MiB): new OpenLineage events are "
                "NOT stored until the backend catches up (%d dropped since the last warning; `lineage events status` counts them). "
                "Fix the backend or raise LINEAGE_EVENTS_SPOOL_MAX_EVENTS / LINEAGE_EVENTS_SPOOL_MAX_BYTES. "
                "The ledger still records every statement.",
                self.path, self._pending, self._bytes / 2**20, self.max_events, self.max_bytes / 2**20, self._dropped_since_warning,
            )
            self._last_full_warning = now
            self._dropped_since_warning = 0

    def _after_fork(self) -> None:
        # SQLite connections and threads do not survive fork(): start afresh in the child
        _ABANDONED.append(self._writer)
        self._setup()
        self._refresh_counts()
        if self.sender_enabled:
            self.start()

    # -- sending (the background side) -------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"lineage-events-sender:{self.path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = _Db(self.path, self.synchronous, autocheckpoint=True)
        lock = _SenderLock(self.lock_path)
        client = None
        failures = 0
        last_checkpoint = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    if not self._holding:
                        self._holding = lock.acquire()
                        if not self._holding:
                            self._stop.wait(self.poll_interval)  # another process sends for this spool
                            continue
                    if client is None:
                        client = self.client_factory()
                        self._note(connection, "transport", transport_description(client))
                    delivered, rejected, error, remaining = self._deliver(connection, client)
                    if delivered or rejected:
                        with self._lock:
                            self._pending = max(0, self._pending - delivered - rejected)
                    if error is not None:
                        failures += 1
                        self._kick.wait(self._backoff(failures))
                        self._kick.clear()
                        continue
                    failures = 0
                    if remaining:
                        continue
                    if time.monotonic() - last_checkpoint > 5:
                        connection.run("PRAGMA wal_checkpoint(PASSIVE)")
                        last_checkpoint = time.monotonic()
                    self._wake.wait(self.poll_interval)
                    self._wake.clear()
                except Exception as error:  # never let the sender die: the events wait on disk
                    failures += 1
                    log.warning("lineage events sender: %s (retrying in %.1fs)", describe_error(error), self._backoff(failures))
                    self._note_error(connection, describe_error(error))
                    client = None
                    self._kick.wait(self._backoff(failures))
                    self._kick.clear()
        finally:
            if client is not None:
                try:
                    client.close(1.0)
                except Exception:
                    pass
            lock.release()
            self._holding = False
            connection.close()

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2 ** max(0, failures - 1))
        return delay * random.uniform(0.8, 1.0)

    def _deliver(self, connection: _Db, client: Any) -> tuple[int, int, str | None, int]:
        """Send pending events oldest first until one fails; ``(delivered, rejected, error, rows left in batch)``."""
        rows = connection.rows("SELECT id, created, body FROM events ORDER BY id LIMIT ?", (BATCH,))
        delivered = rejected = 0
        for index, (event_id, created, body) in enumerate(rows):
            if self._stop.is_set() and not self._draining:
                return delivered, rejected, None, len(rows) - index
            try:
                event = revive(body)
            except Exception as error:
                self._reject(connection, event_id, created, body, f"unreadable event: {type(error).__name__}: {error}")
                rejected += 1
                continue
            try:
                client.emit(event)
            except Exception as error:
                reason = describe_error(error)
                if is_permanent(error):
                    log.error("lineage events: the backend rejected event %d for good (%s); kept in the spool's rejected table", event_id, reason)
                    self._reject(connection, event_id, created, body, reason)
                    rejected += 1
                    continue
                connection.run("UPDATE events SET attempts = attempts + 1, last_error = ? WHERE id = ?", (reason, event_id))
                self._note_error(connection, reason)
                return delivered, rejected, reason, len(rows) - index
            # the backend accepted it: forget it now (a crash right here is the one resend case)
            connection.transaction(
                ("DELETE FROM events WHERE id = ?", (event_id,)),
                ("INSERT INTO counters (name, value) VALUES ('delivered', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", ()),
                ("INSERT OR REPLACE INTO notes (name, value) VALUES ('last_delivery_at', ?)", (str(time.time()),)),
            )
            delivered += 1
        return delivered, rejected, None, len(rows) if len(rows) == BATCH else 0

    _draining = False

    def _reject(self, connection: _Db, event_id: int, created: float, body: str, reason: str) -> None:
        connection.transaction(
            ("INSERT OR REPLACE INTO rejected (id, created, rejected, reason, body) VALUES (?, ?, ?, ?, ?)", (event_id, created, time.time(), reason, body)),
            ("DELETE FROM events WHERE id = ?", (event_id,)),
        )

    def _note(self, connection: _Db, name: str, value: str) -> None:
        connection.run("INSERT OR REPLACE INTO notes (name, value) VALUES (?, ?)", (name, value))

    def _note_error(self, connection: _Db, reason: str) -> None:
        try:
            self._note(connection, "last_error", reason)
            self._note(connection, "last_error_at", str(time.time()))
        except sqlite3.Error:
            pass

    # -- control -----------------------------------------------------------------------------

    def pending(self) -> int:
        connection = _Db(self.path, self.synchronous, autocheckpoint=True)
        try:
            return connection.one("SELECT count(*) FROM events")[0]
        finally:
            connection.close()

    def _written_pending(self) -> bool:
        """Is an event this process stored (or an older one, sent before it) still waiting?"""
        if not self._last_written:
            return False
        connection = _Db(self.path, self.synchronous, autocheckpoint=True)
        try:
            return connection.one("SELECT count(*) FROM events WHERE id <= ?", (self._last_written,))[0] > 0
        finally:
            connection.close()

    def flush(self, timeout: float = 30.0) -> FlushResult:
        """Deliver everything pending now (or until ``timeout``); returns what happened."""
        deadline = time.monotonic() + timeout
        result = FlushResult()
        before = self.status()
        if self._thread is not None and self._thread.is_alive():
            # this process's sender (or another process's) is at work: cut its backoff short and wait
            last_kick = 0.0
            while time.monotonic() < deadline and self.pending():
                if time.monotonic() - last_kick > 1.0:
                    self._kick.set()
                    self._wake.set()
                    last_kick = time.monotonic()
                time.sleep(0.02)
            after = self.status()
            result.delivered = after.delivered - before.delivered
            result.rejected = after.rejected - before.rejected
            result.remaining = after.pending
            result.error = after.last_error if after.pending else None
            if after.pending and after.sender_pid not in (None, os.getpid()):
                result.busy_pid = after.sender_pid
            return result
        lock = _SenderLock(self.lock_path)
        while not lock.acquire():
            if time.monotonic() >= deadline:
                result.busy_pid = _SenderLock.holder(self.lock_path)
                result.remaining = self.pending()
                result.error = f"another process (pid {result.busy_pid}) is sending this spool's events"
                return result
            time.sleep(0.05)
        connection = _Db(self.path, self.synchronous, autocheckpoint=True)
        failures = 0
        try:
            client = self.client_factory()
            self._note(connection, "transport", transport_description(client))
            while True:
                delivered, rejected, error, remaining = self._deliver(connection, client)
                result.delivered += delivered
                result.rejected += rejected
                if error is None and not remaining:
                    break
                if error is not None:
                    result.error = error
                    failures += 1
                    delay = self._backoff(failures)
                    if time.monotonic() + delay >= deadline:
                        break
                    time.sleep(delay)
                elif time.monotonic() >= deadline:
                    break
            try:
                client.close(1.0)
            except Exception:
                pass
        except Exception as error:
            result.error = describe_error(error)
        finally:
            result.remaining = connection.one("SELECT count(*) FROM events")[0]
            if not result.remaining:
                result.error = None
            connection.close()
            lock.release()
        with self._lock:
            self._pending = result.remaining
        return result

    def requeue_rejected(self) -> int:
        """Put rejected events back at the end of the queue (after fixing what the backend disliked)."""
        connection = _Db(self.path, self.synchronous, autocheckpoint=True)
        try:
            rows = connection.rows("SELECT id, created, body FROM rejected ORDER BY id")
            connection.transaction(
                *[("INSERT INTO events (created, size, body) VALUES (?, ?, ?)", (created, len(body), body)) for _, created, body in rows],
                *[("DELETE FROM rejected WHERE id = ?", (event_id,)) for event_id, _, _ in rows],
            )
        finally:
            connection.close()
        self._wake.set()
        return len(rows)

    def status(self) -> SpoolStatus:
        connection = _Db(self.path, self.synchronous, autocheckpoint=True)
        try:
            pending, pending_bytes, oldest = connection.one("SELECT count(*), coalesce(sum(size), 0), min(created) FROM events")
            counters = dict(connection.rows("SELECT name, value FROM counters"))
            notes = dict(connection.rows("SELECT name, value FROM notes"))
            rejected = connection.one("SELECT count(*) FROM rejected")[0]
        finally:
            connection.close()
        last_error_at = float(notes["last_error_at"]) if "last_error_at" in notes else None
        last_delivery_at = float(notes["last_delivery_at"]) if "last_delivery_at" in notes else None
        stale_error = last_error_at is not None and last_delivery_at is not None and last_delivery_at > last_error_at
        return SpoolStatus(
            path=str(self.path),
            pending=pending,
            pending_bytes=pending_bytes,
            oldest_pending_seconds=(time.time() - oldest) if oldest is not None else None,
            delivered=counters.get("delivered", 0),
            rejected=rejected,
            dropped=counters.get("dropped", 0),
            max_events=self.max_events,
            max_bytes=self.max_bytes,
            last_error=None if stale_error else notes.get("last_error"),
            last_error_at=None if stale_error else last_error_at,
            last_delivery_at=last_delivery_at,
            sender_pid=_SenderLock.holder(self.lock_path),
            transport=notes.get("transport"),
        )

    def close(self, timeout: float = 0.0) -> bool:
        """Stop the sender, first giving it up to ``timeout`` seconds to deliver what is pending.
        Returns True when nothing this process could send is left behind."""
        if self._closed:
            return True
        self._closed = True
        thread = self._thread
        if thread is not None and thread.is_alive():
            if timeout > 0:
                self._draining = True
                self._kick.set()
                self._wake.set()
                deadline = time.monotonic() + timeout
                # this process's own events (and the older ones before them): the task processes
                # of one worker share its spool, and another one's new events are not ours to wait for
                while time.monotonic() < deadline and self._written_pending():
                    if not self._holding and _SenderLock.holder(self.lock_path) not in (None, os.getpid()):
                        break  # another process sends this spool's events
                    time.sleep(0.02)
            # past the wait the sender stops after the event it is sending: a process that exits
            # right after close() must not cut it off between the backend's answer and the delete
            self._draining = False
            self._stop.set()
            self._kick.set()
            self._wake.set()
            thread.join(timeout=max(1.0, timeout))
        drained = not self.pending()
        try:
            self._writer.close()
        except Exception:
            pass
        return drained


def _close_at_exit(reference: "weakref.ref[Spool]") -> None:
    spool = reference()
    if spool is not None and not spool._closed and os.getpid() == spool._pid:
        try:
            spool.close(spool.exit_wait)
        except Exception:
            pass
