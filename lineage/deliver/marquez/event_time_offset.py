"""``eventTime`` is an ISO 8601 date-time with an offset (``Z`` or ``+00:00``), never a zone suffix.

    "2024-05-01T10:00:00"                  ->  "eventTime ... has no UTC offset"
    "2024-05-01T10:00:00+01:00[Europe/London]"  ->  "eventTime ... carries a zone suffix"
"""

from __future__ import annotations

import datetime
from typing import Iterator


def event_time_offset(event: dict) -> Iterator[str]:
    value = event.get("eventTime")
    if not isinstance(value, str):
        yield "eventTime is missing"
        return
    if "[" in value:
        yield f"eventTime {value!r} carries a zone suffix (Marquez rejects it; use UTC with Z or +00:00)"
        return
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        yield f"eventTime {value!r} is not an ISO 8601 date-time"
        return
    if "T" not in value.upper():
        yield f"eventTime {value!r} has no time part"
    if parsed.tzinfo is None:
        yield f"eventTime {value!r} has no UTC offset (use Z or +00:00)"
