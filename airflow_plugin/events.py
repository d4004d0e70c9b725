"""Task-level OpenLineage events when the OpenLineage provider does not emit them (wired with the events issue)."""

from __future__ import annotations


def task_started(task_instance) -> None:
    return None


def task_finished(task_instance, state: str, error) -> None:
    return None
