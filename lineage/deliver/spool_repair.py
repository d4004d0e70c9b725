"""A damaged spool file: recognise it, move it aside, take out what is still readable.

    problem = damage(path)            # "the spool file is empty (0 bytes)", or None
    moved = quarantine(path, reason)  # <spool>.damaged-20260509T101500Z (with its -wal and -shm)
    rescued = salvage(moved)          # the events, rejections and counters still readable
    quarantined(path)                 # every damaged file kept next to the spool

Damage is what no retry cures: a directory where the file should be, a file that is empty (a
spool is created whole, so an empty one lost what it held), a header that is not SQLite's,
or SQLite saying the file is corrupt or not a database. The pipeline never fails for it: the
spool moves the file aside, warns once, salvages and carries on with a new file. The damaged
file stays for the operator (``lineage events status`` counts it) until they delete it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

HEADER = b"SQLite format 3\x00"
SUFFIX = ".damaged-"
_DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB} if hasattr(sqlite3, "SQLITE_CORRUPT") else {11, 26}


class Damaged(Exception):
    """The spool file cannot be used as it is; ``str()`` says why."""


def damage(path: Path) -> str | None:
    """Why the file at ``path`` is damaged, judged without opening it (None: it may be fine)."""
    try:
        if path.is_dir():
            return "a directory is where the spool file should be"
        if not path.exists():
            return None
        size = path.stat().st_size
        if size == 0:
            return "the spool file is empty (0 bytes): whatever events it held are lost"
        with path.open("rb") as handle:
            head = handle.read(len(HEADER))
    except OSError as error:
        return f"the spool file cannot be read ({error.strerror or error})"
    if head != HEADER:
        return "the spool file does not start with SQLite's header"
    return None


def is_damage(error: BaseException) -> bool:
    """True for SQLite errors that mean a corrupt file (as opposed to a busy or full disk)."""
    if isinstance(error, Damaged):
        return True
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGE_CODES
    text = str(error).lower()
    return "malformed" in text or "not a database" in text


def quarantine(path: Path, reason: str) -> Path:
    """Rename the damaged file (and its -wal and -shm) aside; returns the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}{SUFFIX}{stamp}")
    number = 1
    while target.exists() or Path(f"{target}-wal").exists():
        number += 1
        target = path.with_name(f"{path.name}{SUFFIX}{stamp}-{number}")
    os.rename(path, target)
    for companion in ("-wal", "-shm"):
        if Path(f"{path}{companion}").exists():
            os.rename(f"{path}{companion}", f"{target}{companion}")
    _note_reason(target, reason)
    return target


def quarantined(path: Path) -> list[Path]:
    """The damaged files kept next to the spool at ``path``, oldest first."""
    if not path.parent.is_dir():
        return []
    prefix = path.name + SUFFIX
    return sorted(
        candidate for candidate in path.parent.iterdir()
        if candidate.name.startswith(prefix) and not candidate.name.endswith(("-wal", "-shm", ".why", ".salvage"))
    )


def reason_of(moved: Path) -> str | None:
    try:
        return Path(f"{moved}.why").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _note_reason(moved: Path, reason: str) -> None:
    try:
        Path(f"{moved}.why").write_text(reason + "\n", encoding="utf-8")
    except OSError:
        pass


@dataclass
class Salvage:
    events: list[tuple[float, str]] = field(default_factory=list)  # (created, body), oldest first
    rejected: list[tuple[float, float, str, str]] = field(default_factory=list)  # (created, rejected, reason, body)
    sends: dict[int, int] = field(default_factory=dict)  # index in ``events`` -> sends without an answer
    counters: dict[str, int] = field(default_factory=dict)


def salvage(moved: Path) -> Salvage:
    """Every row still readable in a quarantined spool, read from both ends of each table
    (a damaged page stops a scan; the other direction gets what lies beyond it). It reads a
    scratch copy whose header gives the pages the file really has: a truncated file's header
    still counts the lost ones, and SQLite then reads none."""
    rescued = Salvage()
    if not moved.is_file():
        return rescued
    scratch = Path(f"{moved}.salvage")
    try:
        _scratch_copy(moved, scratch)
        connection = sqlite3.connect(str(scratch), timeout=1.0, isolation_level=None)
    except (OSError, sqlite3.Error):
        _remove(scratch)
        return rescued
    try:
        events = _both_ways(connection, "SELECT id, created, body FROM events ORDER BY id {}")
        sends = dict(_both_ways(connection, "SELECT id, sends FROM unconfirmed ORDER BY id {}"))
        for index, (event_id, (created, body)) in enumerate(sorted(events.items())):
            if isinstance(body, str) and _is_json_object(body):
                rescued.events.append((float(created), body))
                if sends.get(event_id):
                    rescued.sends[len(rescued.events) - 1] = int(sends[event_id])
        rejected = _both_ways(connection, "SELECT id, created, rejected, reason, body FROM rejected ORDER BY id {}")
        rescued.rejected = [tuple(row) for _, row in sorted(rejected.items())]
        counters = _both_ways(connection, "SELECT name, value FROM counters ORDER BY name {}")
        rescued.counters = {name: int(value) for name, value in counters.items() if isinstance(value, int)}
    finally:
        connection.close()
        _remove(scratch)
    return rescued


def _scratch_copy(moved: Path, scratch: Path) -> None:
    data = bytearray(moved.read_bytes())
    if data[: len(HEADER)] == HEADER and len(data) >= 100:
        page_size = int.from_bytes(data[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        if page_size >= 512 and page_size & (page_size - 1) == 0:
            del data[len(data) - len(data) % page_size:]
            data[28:32] = (len(data) // page_size).to_bytes(4, "big")
    scratch.write_bytes(bytes(data))
    if Path(f"{moved}-wal").exists():
        Path(f"{scratch}-wal").write_bytes(Path(f"{moved}-wal").read_bytes())


def _remove(scratch: Path) -> None:
    for name in (str(scratch), f"{scratch}-wal", f"{scratch}-shm", f"{scratch}-journal"):
        try:
            os.unlink(name)
        except OSError:
            pass


def _both_ways(connection: sqlite3.Connection, query: str) -> dict:
    rows: dict = {}
    for direction in ("ASC", "DESC"):
        try:
            for row in connection.execute(query.format(direction)):
                key, *rest = row
                rows.setdefault(key, rest[0] if len(rest) == 1 else tuple(rest))
        except sqlite3.Error:
            continue
    return rows


def _is_json_object(body: str) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False
