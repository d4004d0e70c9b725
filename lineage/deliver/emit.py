"""Where events go: a JSONL file, the durable spool (then openlineage-python's transport), or both.

    emitter = emitter_from_environment()     # LINEAGE_EVENTS_FILE and/or OPENLINEAGE_URL & co.
    emitter.emit(run_event)                  # serialised once, written to every sink, returns

``emit`` never raises into the pipeline: a sink that fails is logged and the others still get
the event.

``EventEmitter(sinks, background=True)`` (the Airflow plugin's) takes the work off the
statement's path: ``submit(build)`` queues the event's construction, serialisation and the
sinks' writes for one writer thread, in order; ``flush`` waits until the queue is empty (a
task's end), as do ``close`` and the process's exit. A full queue makes ``submit`` wait: no event
is dropped. A forked child starts with an empty queue (the parent writes what it queued).
"""

from __future__ import annotations

import atexit
import collections
import enum
import itertools
import json
import logging
import os
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import attr
from openlineage.client.serde import Serde

log = logging.getLogger(__name__)


class Sink(Protocol):
    def write(self, body: str) -> Any: ...

    def close(self, timeout: float = 0.0) -> Any: ...


def serialize(event: Any, shared: "SharedParts | None" = None) -> str:
    """One line of JSON, the same as openlineage-python's ``Serde.to_json`` (nulls dropped, keys
    sorted) at a fraction of its cost: it runs on the pipeline's path, twice per statement.
    Parts registered in ``shared`` (a statement run's datasets, repeated on every event) are
    serialised once and spliced in."""
    if not shared:
        return json.dumps(to_plain(event), sort_keys=True)
    text = json.dumps(to_plain(event, shared.markers), sort_keys=True)
    for marker, fragment in shared.fragments.items():
        text = text.replace(marker, fragment)
    return text


class SharedParts:
    """Objects reused by several events, with their JSON computed once (when first needed: on
    the writer thread, for an emitter in background mode).

    Holding the objects keeps their ``id`` unique while they are registered."""

    _token = uuid.uuid4().hex
    _numbers = itertools.count()
    _lock = threading.Lock()

    def __init__(self, objects: Iterable[Any] = ()):
        self.objects: list[Any] = []
        self.markers: dict[int, str] = {}
        self._own: list[Any] = []  # the objects added here (not merged in): their JSON is kept here
        self._fragments: dict[str, str] = {}
        self._sources: list["SharedParts"] = [self]  # this one and those merged in
        for value in objects:
            self.add(value)

    def add(self, value: Any) -> None:
        if id(value) in self.markers:
            return
        marker = f"@lg-shared-{self._token}-{next(self._numbers)}@"
        self.objects.append(value)
        self._own.append(value)
        self.markers[id(value)] = marker

    @property
    def fragments(self) -> dict[str, str]:
        """Quoted marker -> the object's JSON."""
        out: dict[str, str] = {}
        for source in self._sources:
            if len(source._fragments) < len(source._own):
                with self._lock:
                    for value in source._own:
                        key = json.dumps(source.markers[id(value)])
                        if key not in source._fragments:
                            source._fragments[key] = json.dumps(to_plain(value), sort_keys=True)
            out.update(source._fragments)
        return out

    def merged(self, other: "SharedParts") -> "SharedParts":
        out = SharedParts()
        for part in (self, other):
            out.objects.extend(part.objects)
            out.markers.update(part.markers)
            out._sources.extend(part._sources)
        return out

    def __bool__(self) -> bool:
        return bool(self.objects)


_SCALARS = (str, int, float, bool)
_FIELDS: dict[type, tuple[str, ...]] = {}


def to_plain(value: Any, markers: dict[int, str] | None = None) -> Any:
    """``Serde.to_dict`` without ``attr.asdict``'s generic machinery: attrs objects become
    dicts of their non-null fields, enums their values; lists lose nulls and empty dicts.
    Objects listed in ``markers`` become their marker string."""
    if isinstance(value, _SCALARS):
        return value
    if markers:
        marker = markers.get(id(value))
        if marker is not None:
            return marker
    if isinstance(value, dict):
        return {key: to_plain(item, markers) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            if item is None:
                continue
            item = to_plain(item, markers)
            if item != {}:
                out.append(item)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    names = _FIELDS.get(type(value))
    if names is None:
        if not attr.has(type(value)):
            return Serde.remove_nulls_and_enums(value)
        names = _FIELDS[type(value)] = tuple(field.name for field in attr.fields(type(value)))
    out_dict = {}
    for name in names:
        item = getattr(value, name)
        if item is not None:
            out_dict[name] = to_plain(item, markers)
    return out_dict


class JsonlSink:
    """Appends one event per line. Each line is one ``write`` on an ``O_APPEND`` descriptor, so
    several processes can share the file without interleaving lines."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._pid = 0

    def write(self, body: str) -> None:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        os.write(self._fd, (body + "\n").encode())

    def close(self, timeout: float = 0.0) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


MAX_QUEUED = 10_000  # events waiting for the writer thread; past it, submit waits
_BACKGROUND: "weakref.WeakSet[EventEmitter]" = weakref.WeakSet()


class EventEmitter:
    def __init__(self, sinks: Iterable[Sink] = (), background: bool = False):
        self.sinks = list(sinks)
        self.background = background
        self._cond = threading.Condition()
        self._queue: collections.deque = collections.deque()
        self._writing = False  # the writer thread holds an event it took from the queue
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        if background:
            atexit.register(_flush_at_exit, weakref.ref(self))
            _BACKGROUND.add(self)

    def emit(self, event: Any, shared: SharedParts | None = None) -> str | None:
        """Serialise ``event`` and write it to every sink; returns its JSON (None when queued)."""
        return self.submit(lambda: event, shared)

    def submit(self, build: Callable[[], Any], shared: SharedParts | None = None) -> str | None:
        """``build()`` makes the event: now, or on the writer thread in background mode."""
        if not self.background:
            return self._write(build, shared)
        if self._pid != os.getpid():
            self._forked()
        with self._cond:
            while len(self._queue) >= MAX_QUEUED and self._thread is not None and self._thread.is_alive():
                self._cond.wait(1.0)
            self._queue.append((build, shared))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lineage-events-writer", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return None

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event is in the sinks; False if ``timeout`` passed first."""
        if not self.background:
            return True
        if self._pid != os.getpid():
            self._forked()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._writing:
                if self._thread is None or not self._thread.is_alive():
                    self._write_queued()  # no writer (it could not start): the caller writes them
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _write(self, build: Callable[[], Any], shared: SharedParts | None) -> str | None:
        try:
            body = serialize(build(), shared)
        except Exception:
            log.exception("lineage events: cannot build or serialise an event; it is not emitted")
            return None
        for sink in self.sinks:
            try:
                sink.write(body)
            except Exception:
                log.exception("lineage events: sink %s failed to take an event", type(sink).__name__)
        return body

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                item = self._queue.popleft()
                self._writing = True
            try:
                self._write(*item)
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()

    def _write_queued(self) -> None:
        while self._queue:
            self._write(*self._queue.popleft())

    def _forked(self) -> None:
        # the parent's writer thread is not in the child, and its queued events are the parent's to write
        self._cond = threading.Condition()
        self._queue = collections.deque()
        self._writing = False
        self._thread = None
        self._pid = os.getpid()

    def close(self, timeout: float = 0.0) -> None:
        self.flush()
        for sink in self.sinks:
            try:
                sink.close(timeout)
            except Exception:
                log.exception("lineage events: closing sink %s failed", type(sink).__name__)

    @property
    def spool(self):
        from lineage.deliver.spool import Spool

        return next((sink for sink in self.sinks if isinstance(sink, Spool)), None)


def emitter_from_environment(
    jsonl: str | os.PathLike | None = None,
    spool: str | os.PathLike | bool | None = None,
    env: dict[str, str] | None = None,
) -> EventEmitter:
    """The sinks the environment asks for.

    - a JSONL file: ``jsonl`` or ``LINEAGE_EVENTS_FILE``;
    - the spool (and behind it openlineage-python's transport): when openlineage-python is
      configured (``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``), or
      ``spool`` is a path or True; at ``spool`` / ``LINEAGE_EVENTS_SPOOL`` / ``.lineage/events-spool.db``.
    ``LINEAGE_EVENTS=off`` or ``OPENLINEAGE_DISABLED=true`` turns both off.
    """
    from lineage.deliver.spool import Spool
    from lineage.deliver.transport import transport_configured

    env = os.environ if env is None else env
    if env.get("LINEAGE_EVENTS", "").strip().lower() in ("off", "false", "0") or env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return EventEmitter()
    sinks: list[Sink] = []
    path = jsonl or env.get("LINEAGE_EVENTS_FILE")
    if path:
        sinks.append(JsonlSink(path))
    if spool is True or isinstance(spool, (str, os.PathLike)) or (spool is None and transport_configured(env)):
        sinks.append(Spool(spool if isinstance(spool, (str, os.PathLike)) else None))
    return EventEmitter(sinks)


def _flush_at_exit(reference: "weakref.ref[EventEmitter]") -> None:
    emitter = reference()
    if emitter is not None and emitter._pid == os.getpid() and not emitter.flush():
        log.error("lineage events: events still queued at exit could not be written within 30 s")


def _after_fork_in_child() -> None:
    for emitter in list(_BACKGROUND):
        emitter._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
