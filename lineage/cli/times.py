"""Times on the command line: ISO timestamps, dates, or a duration ago (``--since 2h``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lineage.cli import UsageError
from lineage.policy.durations import parse_duration


def parse_time(text: str | None, option: str, end_of_day: bool = False) -> datetime | None:
    """``2026-05-09`` (start of that day, or its end with ``end_of_day``), ``2026-05-09T10:00:00Z``,
    ``2026-05-09 10:00:00+02``, or ``90m`` / ``2d`` meaning that long ago. Naive times are UTC."""
    if not text:
        return None
    try:
        return datetime.now(timezone.utc) - parse_duration(text)
    except ValueError:
        pass
    stripped = text.strip()
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read Z
    try:
        value = datetime.fromisoformat(stripped.replace(" ", "T", 1) if len(stripped) > 10 else stripped)
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a time: use 2026-05-09, 2026-05-09T10:00:00Z or a duration ago such as 2h") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if end_of_day and len(text.strip()) == 10:
        value += timedelta(days=1) - timedelta(microseconds=1)
    return value.astimezone(timezone.utc)


def ledger_time(value: datetime | None) -> str | None:
    """The ledger's own time format (sortable as text)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else None
