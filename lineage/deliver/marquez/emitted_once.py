"""Each event is sent once: the same run, eventType and eventTime twice has broken Marquez graphs.

    COMPLETE 0190...@10:00:01 twice  ->  "the same event (run, eventType, eventTime) was already sent"
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.history import RunHistory, identity_of


def emitted_once(event: dict, history: RunHistory | None) -> Iterator[str]:
    if history is not None and identity_of(event) in history.seen:
        yield "the same event (run, eventType, eventTime) was already sent; emit each event once"
