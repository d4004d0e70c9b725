"""A durable spool in front of the OpenLineage transport: emit never waits for the backend.

    spool.write(event_json)     one INSERT into SQLite (WAL): tens of microseconds, then returns
    sender thread               oldest first, in order per run: OpenLineageClient.emit(event)
                                -> DELETE on success; a failure holds that run's later events

Guarantees and limits (also in docs/events.md):

- **Durable, zero lost**: an event is on disk when ``write`` returns. With the backend down,
  slow or failing, events wait there and survive a crash or restart of the process; the next
  process that opens the spool (or ``lineage events flush``) delivers them. ``synchronous=NORMAL``
  (the default) survives a process crash; ``LINEAGE_EVENTS_SPOOL_SYNC=FULL`` also survives power
  loss, at an fsync per event.
- **In order per run**: one sender per spool file (an ``flock`` on ``<spool>.lock``, across
  processes) sends events oldest first. An event that does not go through holds the later
  events of its run (its OpenLineage run, or its job or dataset for run-less events), never
  those of other runs: one stuck run does not stop the others.
- **At most twice**: before a send the spool records it (``unconfirmed``). A send that got no
  answer (a read timeout, a dropped connection) may have reached the backend; the next try of
  that event waits longer for the answer (its read timeout grows fourfold, up to ``max_timeout``),
  and after two such sends the event is *held*: not sent again until an operator says so
  (``lineage events requeue --held``, one more send each time). A crash between the backend's
  answer and the delete counts as such a send. Answers (5xx, 429) and refused connections reach
  nothing: they are retried with backoff (per event, and for all events when the backend is
  down) without limit, and the event waits on disk.
- **Rejections are kept**: an event the backend refuses for good (a 4xx such as Marquez's 422)
  moves to the ``rejected`` table with the answer, so it never blocks the events behind it;
  ``lineage events status`` shows it and ``lineage events requeue`` sends it again.
- **Bounded**: past ``LINEAGE_EVENTS_SPOOL_MAX_EVENTS`` (100,000) events or
  ``LINEAGE_EVENTS_SPOOL_MAX_BYTES`` (256 MiB) pending, new events are not stored: each one is
  counted as dropped and a warning says so (at 80% a first warning). The pipeline never stalls
  on lineage; the ledger still records every statement.
- **Never fails the pipeline**: a damaged spool file (corrupt, truncated, not SQLite, empty, a
  directory in its place) is moved aside (``lineage.deliver.spool_repair``), what is readable is
  salvaged into a new file, a warning says so once, and ``lineage events status`` lists the
  damaged file until the operator deletes it. A spool that cannot be opened at all logs why and
  drops events; ``write`` never raises.
"""

from __future__ import annotations

import atexit
import json
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

from lineage.deliver.spool_repair import Damaged, damage, is_damage, quarantine, quarantined, reason_of, salvage
from lineage.deliver.transport import (
    UNCONFIRMED,
    UNREACHED,
    describe_error,
    is_permanent,
    new_client,
    outcome,
    read_timeout,
    revive,
    set_read_timeout,
    transport_description,
)

log = logging.getLogger(__name__)

DEFAULT_PATH = ".lineage/events-spool.db"
DEFAULT_MAX_EVENTS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_TIMEOUT = 120.0
NEAR_FULL = 0.8
BATCH = 200
MAX_SENDS = 2  # sends without an answer after which an event is held (the at-most-twice guarantee)
TIMEOUT_GROWTH = 4  # a send after one without an answer waits this much longer
FAILURES_IN_A_ROW = 3  # failed events of different runs in a row: the backend is failing, back off for all

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
CREATE TABLE IF NOT EXISTS unconfirmed (id INTEGER PRIMARY KEY, sends INTEGER NOT NULL, reason TEXT, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

DELIVERED, REJECTED, FAILED, DOWN = "delivered", "rejected", "failed", "down"


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
    held: int = 0  # sent twice without an answer: waiting for `lineage events requeue --held`
    held_events: list[dict[str, Any]] = field(default_factory=list)
    retrying: int = 0  # pending events that failed at least once
    retrying_oldest: dict[str, Any] | None = None
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # damaged spool files kept aside

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FlushResult:
    delivered: int = 0
    rejected: int = 0
    remaining: int = 0
    held: int = 0
    error: str | None = None
    busy_pid: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Pass:
    """One sweep over the pending events."""

    delivered: int = 0
    rejected: int = 0
    waiting: int = 0  # skipped: their run waits for an earlier event
    down: bool = False  # the backend failed every try: back off for all
    error: str | None = None


def order_key(data: dict) -> str:
    """What an event keeps its order within: its run, else its job, else its dataset."""
    run = data.get("run") or {}
    if run.get("runId"):
        return f"run:{run['runId']}"
    job = data.get("job") or {}
    if job.get("name"):
        return f"job:{job.get('namespace')}/{job['name']}"
    dataset = data.get("dataset") or {}
    return f"dataset:{dataset.get('namespace')}/{dataset.get('name')}"


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


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _create(path: Path) -> None:
    """Make a new spool file whole (schema in place) and then give it its name, so no process
    ever sees a half-made one: an empty spool file is always damage."""
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}-{random.randrange(1 << 30)}")
    connection = sqlite3.connect(str(temporary), isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
    finally:
        connection.close()
    try:
        os.link(temporary, path)  # atomic, and never replaces a spool another process made meanwhile
    except FileExistsError:
        pass
    finally:
        for name in (str(temporary), f"{temporary}-wal", f"{temporary}-shm"):
            try:
                os.unlink(name)
            except OSError:
                pass


class _RepairLock:
    """One repair at a time per spool: a thread lock in this process, an ``flock`` across processes."""

    _threads = threading.Lock()

    @classmethod
    def reset(cls) -> None:  # in a forked child: the parent's thread that held it is not there
        cls._threads = threading.Lock()

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".repair.lock")

    def __enter__(self) -> "_RepairLock":
        import fcntl

        self._threads.acquire()
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            os.close(self.fd)
        finally:
            self._threads.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RepairLock.reset)


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
        max_timeout: float | None = None,
    ):
        env = os.environ
        self.path = Path(path) if path is not None else default_path()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.max_events = int(max_events or env.get("LINEAGE_EVENTS_SPOOL_MAX_EVENTS") or DEFAULT_MAX_EVENTS)
        self.max_bytes = int(max_bytes or env.get("LINEAGE_EVENTS_SPOOL_MAX_BYTES") or DEFAULT_MAX_BYTES)
        self.synchronous = (synchronous or env.get("LINEAGE_EVENTS_SPOOL_SYNC") or "NORMAL").upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"LINEAGE_EVENTS_SPOOL_SYNC must be NORMAL, FULL or EXTRA, not {self.synchronous!r}")
        self.exit_wait = float(exit_wait if exit_wait is not None else env.get("LINEAGE_EVENTS_EXIT_WAIT", "2"))
        self.max_timeout = float(max_timeout or env.get("LINEAGE_EVENTS_MAX_TIMEOUT") or DEFAULT_MAX_TIMEOUT)
        self.client_factory = client_factory
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.poll_interval = poll_interval
        self.sender_enabled = sender
        self.broken: str | None = None  # why this process cannot use the spool at all (events are dropped)
        self._setup()
        if sender and self.broken is None:
            self.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- opening, and repairing a damaged file ----------------------------------------------------

    def _setup(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
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
        self._lost_since_warning = 0
        self._last_lost_warning = 0.0
        self._retry_at: dict[int, float] = {}  # event id -> when the sender may try it again
        self._keys: dict[int, str] = {}  # event id -> its order key (run), read once
        self._held_warned: set[int] = set()
        self._timeout: float | None = None  # the read timeout now in use (grows when answers do not come)
        self._base_timeout: float | None = None
        self._writer: _Db | None = None
        self._inode: int | None = None
        self._last_written = 0  # the newest event this process stored (close waits for it, not for other processes')
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open_writer()
        except Exception as error:  # the pipeline goes on without the spool; the reason is logged
            self.broken = describe_error(error)
            log.error("lineage events: cannot use the spool %s (%s); events are not stored", self.path, self.broken)

    def _open(self, autocheckpoint: bool = True) -> tuple["_Db", int | None]:
        """A connection to a sound spool file (made whole if missing, repaired if damaged)."""
        for attempt in range(3):
            seen = _inode(self.path)
            try:
                problem = damage(self.path)
                if problem:
                    raise Damaged(problem)
                if seen is None:
                    _create(self.path)
                    seen = _inode(self.path)
                connection = _Db(self.path, self.synchronous, autocheckpoint)
                try:
                    connection.script(SCHEMA)
                except BaseException:
                    connection.close()
                    raise
                return connection, seen
            except Exception as error:
                if attempt == 2 or not is_damage(error):
                    raise
                self._repair(str(error), seen)
        raise AssertionError("unreachable")

    def _repair(self, reason: str, seen: int | None) -> None:
        """Move the damaged file aside, salvage what is readable into a new one, warn once.
        ``seen`` is the file (inode) found damaged: if another process or thread replaced it
        meanwhile, there is nothing left to do."""
        with _RepairLock(self.path):
            if _inode(self.path) != seen:
                return  # repaired (or removed) by someone else
            moved = quarantine(self.path, reason)
            rescued = salvage(moved)
            _create(self.path)
            connection = _Db(self.path, self.synchronous, autocheckpoint=True)
            try:
                statements: list[tuple[str, tuple]] = []
                for created, body in rescued.events:
                    statements.append(("INSERT INTO events (created, size, body) VALUES (?, ?, ?)", (created, len(body), body)))
                for created, rejected, why, body in rescued.rejected:
                    statements.append(("INSERT INTO rejected (created, rejected, reason, body) VALUES (?, ?, ?, ?)", (created, rejected, why, body)))
                for name, value in rescued.counters.items():
                    statements.append(("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, value)))
                connection.transaction(*statements)
                if rescued.sends:  # keep each salvaged event's unanswered sends: the at-most-twice count survives
                    ids = [row[0] for row in connection.rows("SELECT id FROM events ORDER BY id")]
                    connection.transaction(*[
                        ("INSERT INTO unconfirmed (id, sends, reason, at) VALUES (?, ?, 'salvaged', ?)", (ids[index], sends, time.time()))
                        for index, sends in rescued.sends.items() if index < len(ids)
                    ])
            finally:
                connection.close()
        log.warning(
            "lineage events: the spool %s was damaged (%s): moved to %s; %d pending event(s) and %d rejected one(s) salvaged into a "
            "new spool, which carries on. Events in its unreadable parts are lost (LINEAGE_EVENTS_FILE, if set, has a copy of "
            "every event). `lineage events status` lists the damaged file until you delete it.",
            self.path, reason, moved.name, len(rescued.events), len(rescued.rejected),
        )

    def _connection(self) -> "_Db":
        return self._open()[0]

    def _with_spool(self, work: Callable[["_Db"], Any]) -> Any:
        """``work(connection)`` on a sound spool: a damaged file is repaired and the work done again."""
        for attempt in range(2):
            connection, seen = self._open()
            try:
                return work(connection)
            except Exception as error:
                if attempt == 1 or not is_damage(error):
                    raise
                self._repair(str(error), seen)
            finally:
                connection.close()

    # -- writing (the pipeline's side) -------------------------------------------------------

    def write(self, body: str) -> bool:
        """Store one serialised event; False when it could not be stored (the spool is full:
        counted as dropped; or unusable: logged). Never raises."""
        try:
            return self._write(body)
        except Exception as error:
            self._lost(error)
            return False

    def _write(self, body: str) -> bool:
        if os.getpid() != self._pid:
            self._after_fork()
        if self.broken is not None:
            self._lost(self.broken)
            return False
        size = len(body)
        with self._lock:
            if _inode(self.path) != self._inode:
                self._reopen_writer()  # the file was repaired (replaced) by another process
            if self._pending >= self.max_events or self._bytes + size > self.max_bytes:
                self._refresh_counts()
                if self._pending >= self.max_events or self._bytes + size > self.max_bytes:
                    self._drop()
                    return False
            for attempt in range(2):
                try:
                    self._last_written = self._writer.run("INSERT INTO events (created, size, body) VALUES (?, ?, ?)", (time.time(), size, body)) or self._last_written
                    break
                except sqlite3.Error as error:
                    if attempt == 1 or not is_damage(error):
                        self._lost(error)
                        return False
                    self._repair(str(error), self._inode)
                    self._reopen_writer()
            if _inode(self.path) != self._inode:
                # replaced while this event went in: it may sit in the moved file, so it goes in again
                # (if the salvage read it too, that is one duplicate, never a loss)
                self._reopen_writer()
                self._last_written = self._writer.run("INSERT INTO events (created, size, body) VALUES (?, ?, ?)", (time.time(), size, body)) or self._last_written
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

    def _open_writer(self) -> None:
        """The pipeline's connection, and the counts (reading them also finds damaged pages)."""
        for attempt in range(2):
            self._writer, self._inode = self._open(autocheckpoint=not self.sender_enabled)
            try:
                self._refresh_counts()
                return
            except Exception as error:
                self._writer.close()
                if attempt == 1 or not is_damage(error):
                    raise
                self._repair(str(error), self._inode)

    def _reopen_writer(self) -> None:
        old = self._writer
        self._open_writer()
        if old is not None:
            try:
                old.close()
            except Exception:
                pass

    def _lost(self, error: Any) -> None:
        self._lost_since_warning += 1
        now = time.monotonic()
        if self._last_lost_warning == 0.0 or now - self._last_lost_warning > 60:
            log.error("lineage events: could not store %d event(s) in the spool %s (%s); they are lost",
                      self._lost_since_warning, self.path, error if isinstance(error, str) else describe_error(error))
            self._last_lost_warning = now
            self._lost_since_warning = 0

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
        if self._writer is not None:
            _ABANDONED.append(self._writer)
        self._setup()
        if self.sender_enabled and self.broken is None:
            self.start()

    # -- sending (the background side) -------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"lineage-events-sender:{self.path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lock = _SenderLock(self.lock_path)
        connection: _Db | None = None
        seen: int | None = None
        client = None
        downs = 0
        last_checkpoint = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    if not self._holding:
                        self._holding = lock.acquire()
                        if not self._holding:
                            self._stop.wait(self.poll_interval)  # another process sends for this spool
                            continue
                    if connection is None or _inode(self.path) != seen:
                        if connection is not None:
                            connection.close()
                            self._keys.clear()
                        connection, seen = self._open()
                    if client is None:
                        client = self.client_factory()
                        self._use_client(connection, client)
                    sweep = self._pass(connection, client)
                    if sweep.delivered or sweep.rejected:
                        with self._lock:
                            self._pending = max(0, self._pending - sweep.delivered - sweep.rejected)
                    if sweep.down:
                        downs += 1
                        self._kick.wait(self._backoff(downs))
                        self._kick.clear()
                        continue
                    downs = 0
                    if time.monotonic() - last_checkpoint > 5:
                        connection.run("PRAGMA wal_checkpoint(PASSIVE)")
                        last_checkpoint = time.monotonic()
                    self._wake.wait(self._idle(sweep))
                    self._wake.clear()
                except Exception as error:  # never let the sender die: the events wait on disk
                    if is_damage(error):
                        self._repair(str(error), seen)
                        seen = None  # reopen on the new file
                        continue
                    downs += 1
                    log.warning("lineage events sender: %s (retrying in %.1fs)", describe_error(error), self._backoff(downs))
                    if connection is not None:
                        self._note_error(connection, describe_error(error))
                    client = None
                    self._kick.wait(self._backoff(downs))
                    self._kick.clear()
        finally:
            if client is not None:
                try:
                    client.close(1.0)
                except Exception:
                    pass
            lock.release()
            self._holding = False
            if connection is not None:
                connection.close()

    def _idle(self, sweep: _Pass) -> float:
        """How long the sender rests after a pass: until the next event may be tried again."""
        if not sweep.waiting:
            return self.poll_interval
        upcoming = [moment for moment in self._retry_at.values() if moment > time.monotonic()]
        if not upcoming:
            return self.poll_interval
        return max(0.01, min(self.poll_interval, min(upcoming) - time.monotonic()))

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2 ** max(0, failures - 1))
        return delay * random.uniform(0.8, 1.0)

    def _use_client(self, connection: "_Db", client: Any) -> None:
        self._note(connection, "transport", transport_description(client))
        self._base_timeout = read_timeout(client)
        self._timeout = self._base_timeout

    def _pass(self, connection: "_Db", client: Any, until: float | None = None) -> _Pass:
        """Send pending events oldest first. An event that fails holds the later events of its
        run for this pass; the others go on. Stops early when the backend is down (nothing
        reached it) or fails ``FAILURES_IN_A_ROW`` events of different runs in a row."""
        sweep = _Pass()
        blocked: set[str] = set()
        held = {row[0] for row in connection.rows("SELECT id FROM unconfirmed WHERE sends >= ?", (MAX_SENDS,))}
        failures = 0
        after = 0
        while True:
            rows = connection.rows("SELECT id, created, body FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, BATCH))
            if not rows:
                return sweep
            for event_id, created, body in rows:
                after = event_id
                if (self._stop.is_set() and not self._draining) or (until is not None and time.monotonic() > until):
                    sweep.waiting += 1
                    return sweep
                key = self._key(event_id, body)
                if key is None:
                    self._reject(connection, event_id, created, body, "unreadable event: not a JSON object")
                    sweep.rejected += 1
                    continue
                if key in blocked or event_id in held or self._retry_at.get(event_id, 0.0) > time.monotonic():
                    blocked.add(key)
                    sweep.waiting += 1
                    continue
                verdict = self._send(connection, client, event_id, created, body)
                if verdict == DELIVERED:
                    sweep.delivered += 1
                    failures = 0
                    continue
                if verdict == REJECTED:
                    sweep.rejected += 1
                    failures = 0
                    continue
                blocked.add(key)
                sweep.waiting += 1
                sweep.error = self._last_reason
                failures += 1
                if verdict == DOWN or failures >= FAILURES_IN_A_ROW:
                    sweep.down = True
                    return sweep

    _draining = False
    _last_reason: str | None = None

    def _key(self, event_id: int, body: str) -> str | None:
        key = self._keys.get(event_id)
        if key is None:
            try:
                data = json.loads(body)
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            key = self._keys[event_id] = order_key(data)
        return key

    def _send(self, connection: "_Db", client: Any, event_id: int, created: float, body: str) -> str:
        try:
            event = revive(body)
        except Exception as error:
            self._reject(connection, event_id, created, body, f"unreadable event: {type(error).__name__}: {error}")
            return REJECTED
        # recorded before the send: a crash during it counts as a send without an answer
        sends = connection.one(
            "INSERT INTO unconfirmed (id, sends, at) VALUES (?, 1, ?) "
            "ON CONFLICT(id) DO UPDATE SET sends = sends + 1, at = excluded.at RETURNING sends",
            (event_id, time.time()),
        )[0]
        self._set_timeout(client, sends)
        started = time.monotonic()
        try:
            client.emit(event)
        except Exception as error:
            return self._failed(connection, event_id, created, body, sends, error)
        self._answered_in(time.monotonic() - started)
        # the backend took it: forget it now (a crash right here is the one resend case)
        connection.transaction(
            ("DELETE FROM events WHERE id = ?", (event_id,)),
            ("DELETE FROM unconfirmed WHERE id = ?", (event_id,)),
            ("INSERT INTO counters (name, value) VALUES ('delivered', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", ()),
            ("INSERT OR REPLACE INTO notes (name, value) VALUES ('last_delivery_at', ?)", (str(time.time()),)),
        )
        self._forget(event_id)
        return DELIVERED

    def _failed(self, connection: "_Db", event_id: int, created: float, body: str, sends: int, error: Exception) -> str:
        reason = describe_error(error)
        self._last_reason = reason
        if is_permanent(error):
            log.error("lineage events: the backend rejected event %d for good (%s); kept in the spool's rejected table", event_id, reason)
            self._reject(connection, event_id, created, body, reason)
            return REJECTED
        kind = outcome(error)
        statements: list[tuple[str, tuple]] = [("UPDATE events SET attempts = attempts + 1, last_error = ? WHERE id = ?", (reason, event_id))]
        if kind == UNCONFIRMED:
            statements.append(("UPDATE unconfirmed SET reason = ? WHERE id = ?", (reason, event_id)))
            if self._timeout is not None:
                self._timeout = min(self.max_timeout, self._timeout * TIMEOUT_GROWTH)  # the backend is slow: wait longer
            if sends >= MAX_SENDS and event_id not in self._held_warned:
                self._held_warned.add(event_id)
                log.warning(
                    "lineage events: event %d (%s) was sent %d times without an answer (%s); the backend may have it, so it is held, "
                    "and the later events of its run wait. `lineage events requeue --held` sends it once more.",
                    event_id, self._keys.get(event_id), sends, reason,
                )
            else:
                self._retry_at[event_id] = time.monotonic() + self.backoff_base
        else:  # nothing reached the backend, or it answered: this send does not count
            statements.append(("UPDATE unconfirmed SET sends = sends - 1 WHERE id = ?", (event_id,)))
            statements.append(("DELETE FROM unconfirmed WHERE id = ? AND sends <= 0", (event_id,)))
            if kind != UNREACHED:
                attempts = connection.one("SELECT attempts FROM events WHERE id = ?", (event_id,))[0] + 1
                self._retry_at[event_id] = time.monotonic() + self._backoff(attempts)
        statements += [
            ("INSERT OR REPLACE INTO notes (name, value) VALUES ('last_error', ?)", (reason,)),
            ("INSERT OR REPLACE INTO notes (name, value) VALUES ('last_error_at', ?)", (str(time.time()),)),
        ]
        connection.transaction(*statements)  # one write: the pipeline's inserts seldom wait for the sender
        return DOWN if kind == UNREACHED else FAILED

    def _set_timeout(self, client: Any, sends: int) -> None:
        if self._timeout is None:
            return
        timeout = self._timeout
        if sends > 1:  # its last send got no answer: wait longer for this one
            timeout = min(self.max_timeout, max(timeout, self._base_timeout * TIMEOUT_GROWTH))
        set_read_timeout(client, timeout)

    def _answered_in(self, seconds: float) -> None:
        if self._timeout is not None and self._base_timeout is not None and self._timeout > self._base_timeout and seconds < self._base_timeout / 2:
            self._timeout = max(self._base_timeout, self._timeout / 2)  # quick answers again: back toward the configured timeout

    def _forget(self, event_id: int) -> None:
        self._keys.pop(event_id, None)
        self._retry_at.pop(event_id, None)
        self._held_warned.discard(event_id)

    def _reject(self, connection: "_Db", event_id: int, created: float, body: str, reason: str) -> None:
        connection.transaction(
            ("INSERT OR REPLACE INTO rejected (id, created, rejected, reason, body) VALUES (?, ?, ?, ?, ?)", (event_id, created, time.time(), reason, body)),
            ("DELETE FROM events WHERE id = ?", (event_id,)),
            ("DELETE FROM unconfirmed WHERE id = ?", (event_id,)),
        )
        self._forget(event_id)

    def _note(self, connection: "_Db", name: str, value: str) -> None:
        connection.run("INSERT OR REPLACE INTO notes (name, value) VALUES (?, ?)", (name, value))

    def _note_error(self, connection: "_Db", reason: str) -> None:
        try:
            self._note(connection, "last_error", reason)
            self._note(connection, "last_error_at", str(time.time()))
        except sqlite3.Error:
            pass

    # -- control -----------------------------------------------------------------------------

    def pending(self) -> int:
        return self._with_spool(lambda connection: connection.one("SELECT count(*) FROM events")[0])

    def _written_pending(self) -> bool:
        """Is an event this process stored (or an older one, sent before it) still waiting to be
        sent? Held events wait for an operator, not for this process."""
        if not self._last_written:
            return False
        return self._with_spool(lambda connection: connection.one(
            "SELECT count(*) FROM events WHERE id <= ? AND id NOT IN (SELECT id FROM unconfirmed WHERE sends >= ?)",
            (self._last_written, MAX_SENDS))[0] > 0)

    def flush(self, timeout: float = 30.0) -> FlushResult:
        """Deliver everything pending now (or until ``timeout``); returns what happened."""
        deadline = time.monotonic() + timeout
        result = FlushResult()
        before = self.status()
        if self._thread is not None and self._thread.is_alive():
            # this process's sender (or another process's) is at work: cut its backoff short and wait
            last_kick = 0.0
            while time.monotonic() < deadline and self._sendable():
                if time.monotonic() - last_kick > 1.0:
                    self._kick.set()
                    self._wake.set()
                    last_kick = time.monotonic()
                time.sleep(0.02)
            after = self.status()
            result.delivered = after.delivered - before.delivered
            result.rejected = after.rejected - before.rejected
            result.remaining = after.pending
            result.held = after.held
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
        connection: _Db | None = None
        downs = 0
        try:
            connection, seen = self._open()
            client = self.client_factory()
            self._use_client(connection, client)
            while True:
                sweep = self._pass(connection, client, until=deadline)
                result.delivered += sweep.delivered
                result.rejected += sweep.rejected
                if sweep.error:
                    result.error = sweep.error
                if not sweep.waiting:
                    break
                if self._only_held(connection):
                    break  # what is left waits for an operator
                downs = downs + 1 if sweep.down else 0
                delay = self._backoff(downs) if sweep.down else self._idle(sweep)
                if time.monotonic() + delay >= deadline:
                    break
                time.sleep(delay)
            try:
                client.close(1.0)
            except Exception:
                pass
        except Exception as error:
            result.error = describe_error(error)
        finally:
            if connection is not None:
                try:
                    result.remaining = connection.one("SELECT count(*) FROM events")[0]
                    result.held = connection.one("SELECT count(*) FROM unconfirmed WHERE sends >= ?", (MAX_SENDS,))[0]
                except sqlite3.Error:
                    pass
                connection.close()
            if not result.remaining:
                result.error = None
            lock.release()
        with self._lock:
            self._pending = result.remaining
        return result

    def _sendable(self) -> int:
        """Pending events not held for an operator."""
        return self._with_spool(lambda connection: connection.one(
            "SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM unconfirmed WHERE sends >= ?)", (MAX_SENDS,))[0])

    def _only_held(self, connection: "_Db") -> bool:
        """True when every pending event is held or waits behind a held one of its run."""
        held = connection.rows("SELECT e.id, e.body FROM events e JOIN unconfirmed u ON u.id = e.id WHERE u.sends >= ?", (MAX_SENDS,))
        if not held:
            return False
        first_held = {}
        for event_id, body in held:
            key = self._key(event_id, body)
            first_held[key] = min(first_held.get(key, event_id), event_id)
        for event_id, body in connection.rows("SELECT id, body FROM events"):
            key = self._key(event_id, body)
            if key not in first_held or event_id < first_held[key]:
                return False
        return True

    def requeue_rejected(self) -> int:
        """Put rejected events back at the end of the queue (after fixing what the backend disliked)."""

        def requeue(connection: _Db) -> int:
            rows = connection.rows("SELECT id, created, body FROM rejected ORDER BY id")
            connection.transaction(
                *[("INSERT INTO events (created, size, body) VALUES (?, ?, ?)", (created, len(body), body)) for _, created, body in rows],
                *[("DELETE FROM rejected WHERE id = ?", (event_id,)) for event_id, _, _ in rows],
            )
            return len(rows)

        moved = self._with_spool(requeue)
        self._wake.set()
        return moved

    def release_held(self) -> int:
        """Let each held event be sent once more (the backend may then see it a third time)."""

        def release(connection: _Db) -> int:
            count = connection.one("SELECT count(*) FROM unconfirmed WHERE sends >= ?", (MAX_SENDS,))[0]
            connection.run("UPDATE unconfirmed SET sends = ? WHERE sends >= ?", (MAX_SENDS - 1, MAX_SENDS))
            return count

        released = self._with_spool(release)
        self._held_warned.clear()
        self._kick.set()
        self._wake.set()
        return released

    def status(self) -> SpoolStatus:
        def read(connection: _Db) -> tuple:
            return (
                connection.one("SELECT count(*), coalesce(sum(size), 0), min(created) FROM events"),
                dict(connection.rows("SELECT name, value FROM counters")),
                dict(connection.rows("SELECT name, value FROM notes")),
                connection.one("SELECT count(*) FROM rejected")[0],
                connection.rows(
                    "SELECT e.id, u.sends, u.reason, u.at, e.body FROM unconfirmed u JOIN events e ON e.id = u.id "
                    "WHERE u.sends >= ? ORDER BY e.id", (MAX_SENDS,)),
                connection.one("SELECT count(*) FROM events WHERE attempts > 0")[0],
                connection.rows("SELECT id, attempts, last_error, body FROM events WHERE attempts > 0 ORDER BY id LIMIT 1"),
            )

        (pending, pending_bytes, oldest), counters, notes, rejected, held, retrying, oldest_retry = self._with_spool(read)
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
            held=len(held),
            held_events=[{"id": event_id, "order": _order_of(body), "sends": sends, "reason": reason, "since": at}
                         for event_id, sends, reason, at, body in held[:20]],
            retrying=retrying,
            retrying_oldest=_retry_summary(oldest_retry[0]) if oldest_retry else None,
            quarantined=[{"file": str(moved), "reason": reason_of(moved)} for moved in quarantined(self.path)],
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
        try:
            drained = self.broken is None and not self._sendable()
        except Exception:
            drained = False
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception:
            pass
        return drained


def _retry_summary(row: tuple) -> dict[str, Any]:
    event_id, attempts, last_error, body = row
    return {"id": event_id, "order": _order_of(body), "attempts": attempts, "last_error": last_error}


def _order_of(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return order_key(data) if isinstance(data, dict) else None


def _close_at_exit(reference: "weakref.ref[Spool]") -> None:
    spool = reference()
    if spool is not None and not spool._closed and os.getpid() == spool._pid:
        try:
            spool.close(spool.exit_wait)
        except Exception:
            pass
