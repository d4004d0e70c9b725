"""``run.runId`` (and the parent's and root's run ids) are UUIDs.

    "run": {"runId": "manual__2024-05-01"}  ->  "run.runId 'manual__2024-05-01' is not a UUID"
"""

from __future__ import annotations

import uuid
from typing import Iterator


def run_id_uuid(event: dict) -> Iterator[str]:
    if "run" not in event:
        return
    run = event.get("run") or {}
    yield from _check("run.runId", run.get("runId"))
    parent = (run.get("facets") or {}).get("parent")
    if isinstance(parent, dict):
        yield from _check("run.facets.parent.run.runId", (parent.get("run") or {}).get("runId"))
        if isinstance(parent.get("root"), dict):
            yield from _check("run.facets.parent.root.run.runId", (parent["root"].get("run") or {}).get("runId"))


def _check(where: str, value) -> Iterator[str]:
    try:
        uuid.UUID(str(value))
    except ValueError:
        yield f"{where} {value!r} is not a UUID"
    else:
        if not isinstance(value, str) or len(value) != 36:
            yield f"{where} {value!r} is not a UUID in its canonical 36-character form"
