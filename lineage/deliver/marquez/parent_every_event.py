"""A child run sends its ``parent`` facet on every event, not only on START.

    START with parent, COMPLETE without  ->  "run.facets.parent is missing (earlier events of this run had it)"
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.history import RunHistory


def parent_every_event(event: dict, history: RunHistory | None) -> Iterator[str]:
    if history is None or not history.events:
        return
    has_parent = "parent" in (((event.get("run") or {}).get("facets")) or {})
    if history.parent and not has_parent:
        yield "run.facets.parent is missing (earlier events of this run had it; send it on every event)"
    elif history.parent is False and has_parent:
        yield "run.facets.parent appears although earlier events of this run had none; send it on every event"
