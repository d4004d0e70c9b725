"""Where events go: a JSONL file, the durable spool (then openlineage-python's transport), or both.

    emitter = emitter_from_environment()     # LINEAGE_EVENTS_FILE and/or OPENLINEAGE_URL & co.
    emitter.emit(run_event)                  # serialised once, written to every sink, returns

``emit`` never raises into the pipeline: a sink that fails is logged and the others still get
the event.
"""

from __future__ import annotations

import enum
import itertools
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Protocol

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
    """Objects reused by several events, with their JSON computed once.

    Holding the objects keeps their ``id`` unique while they are registered."""

    _token = uuid.uuid4().hex
    _numbers = itertools.count()

    def __init__(self, objects: Iterable[Any] = ()):
        self.objects: list[Any] = []
        self.markers: dict[int, str] = {}
        self.fragments: dict[str, str] = {}
        for value in objects:
            self.add(value)

    def add(self, value: Any) -> None:
        if id(value) in self.markers:
            return
        marker = f"@lg-shared-{self._token}-{next(self._numbers)}@"
        self.objects.append(value)
        self.markers[id(value)] = marker
        self.fragments[json.dumps(marker)] = json.dumps(to_plain(value), sort_keys=True)

    def merged(self, other: "SharedParts") -> "SharedParts":
        out = SharedParts()
        for part in (self, other):
            out.objects.extend(part.objects)
            out.markers.update(part.markers)
            out.fragments.update(part.fragments)
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


class EventEmitter:
    def __init__(self, sinks: Iterable[Sink] = ()):
        self.sinks = list(sinks)

    def emit(self, event: Any, shared: SharedParts | None = None) -> str | None:
        try:
            body = serialize(event, shared)
        except Exception:
            log.exception("lineage events: cannot serialise an event; it is not emitted")
            return None
        for sink in self.sinks:
            try:
                sink.write(body)
            except Exception:
                log.exception("lineage events: sink %s failed to take an event", type(sink).__name__)
        return body

    def close(self, timeout: float = 0.0) -> None:
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
