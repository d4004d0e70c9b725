"""How the plugin stops a task: fail it (no retries), or send it away until a date.

    fail("lineage-governance: ...")   ->  AirflowFailException("lineage-governance: ...")
    reschedule_at(30)                 ->  now + 30 s (an AirflowRescheduleException's date)

``GovernanceConfigError`` is the plugin's own error for unusable settings or policy; the
interception turns it into ``fail(...)``, never into ungoverned SQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class GovernanceConfigError(Exception):
    """The plugin cannot govern: the settings or the policy are unusable (the message says why)."""


def fail(message: str) -> BaseException:
    """The exception that fails the task without retries."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # pragma: no cover
        from airflow.exceptions import AirflowFailException
    return AirflowFailException(message)


def reschedule_at(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)
