"""Statements from PostgreSQL's CSV log (``log_destination=csvlog``, ``log_statement=all``).

    2026-05-09 10:00:01.123 UTC,"alice","analytics",4242,"10.0.0.7:51234",...,"statement: select ..."
    -> LoggedStatement(time=..., user="alice", database="analytics", client="10.0.0.7:51234",
                       application="psql", sql="select ...", ...)

Simple-protocol statements are logged as ``statement: SQL``, extended-protocol ones (drivers
with bind parameters) as ``execute <name>: SQL``; both are read. Bind values sit in the
``detail`` column and are never read. PostgreSQL 13 writes 23 columns, 14 and later 26.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

# column positions of the csvlog format (PostgreSQL 13+)
LOG_TIME, USER, DATABASE, PID, CLIENT, SESSION, SESSION_LINE = 0, 1, 2, 3, 4, 5, 6
SEVERITY, MESSAGE, APPLICATION = 11, 13, 22


class LogError(Exception):
    """A file that is not a PostgreSQL csvlog; the message names the file and line."""


@dataclass(frozen=True)
class LoggedStatement:
    time: datetime | None
    user: str
    database: str
    pid: str
    client: str
    session: str
    session_line: int
    application: str
    sql: str
    source: str  # file:line

    def to_dict(self) -> dict[str, object]:
        return {
            "time": self.time.isoformat() if self.time else None,
            "user": self.user,
            "database": self.database,
            "application": self.application,
            "client": self.client,
            "session": self.session,
            "pid": self.pid,
            "source": self.source,
        }


def log_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the ``*.csv`` files of directories named, in name order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob("*.csv"))
        elif path.exists():
            files.append(path)
        else:
            raise LogError(f"{path}: no such file or directory")
    return files


def read_statements(paths: Iterable[str | Path]) -> Iterator[LoggedStatement]:
    csv.field_size_limit(sys.maxsize)  # a logged statement can be megabytes long
    for path in log_files(paths):
        try:
            handle = path.open(encoding="utf-8", errors="replace", newline="")
        except OSError as error:
            raise LogError(f"{path}: cannot read: {error.strerror or error}") from None
        with handle:
            reader = csv.reader(handle)
            try:
                for row in reader:
                    if len(row) < 23:
                        raise LogError(f"{path}:{reader.line_num}: not a PostgreSQL csvlog line ({len(row)} columns, expected 23 or more)")
                    statement = _statement(row, f"{path}:{reader.line_num}")
                    if statement is not None:
                        yield statement
            except csv.Error as error:
                raise LogError(f"{path}:{reader.line_num}: not CSV: {error}") from None


def _statement(row: list[str], source: str) -> LoggedStatement | None:
    if row[SEVERITY] != "LOG":
        return None
    message = row[MESSAGE]
    if message.startswith("statement: "):
        sql = message[len("statement: "):]
    elif message.startswith("execute "):
        name, separator, sql = message.partition(": ")
        if not separator:
            return None
    else:
        return None
    return LoggedStatement(
        time=_time(row[LOG_TIME]),
        user=row[USER],
        database=row[DATABASE],
        pid=row[PID],
        client=row[CLIENT],
        session=row[SESSION],
        session_line=int(row[SESSION_LINE]) if row[SESSION_LINE].isdigit() else 0,
        application=row[APPLICATION],
        sql=sql,
        source=source,
    )


def _time(text: str) -> datetime | None:
    """``2026-05-09 10:00:01.123 UTC`` (the zone is an abbreviation PostgreSQL chose)."""
    stamp, _, zone = text.rpartition(" ")
    try:
        value = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if zone.upper() in ("UTC", "GMT", "Z"):
        from datetime import timezone

        return value.replace(tzinfo=timezone.utc)
    return value  # another zone name: kept naive (as the log wrote it)
