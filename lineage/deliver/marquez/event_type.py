"""Marquez stores run facets only when ``eventType`` is present.

    {"eventTime": ..., "run": {...}, "job": {...}}   ->  "eventType is missing (Marquez then drops run facets)"
"""

from __future__ import annotations

from typing import Iterator

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER")


def event_type(event: dict) -> Iterator[str]:
    if "run" not in event:
        return
    value = event.get("eventType")
    if value is None:
        yield "eventType is missing (Marquez then drops run facets)"
    elif value not in EVENT_TYPES:
        yield f"eventType {value!r} is not one of {', '.join(EVENT_TYPES)}"
