"""Every event of a run repeats the inputs and outputs seen before, with their schema facets.

Marquez builds job versions (the graph's edges) on terminal events: a COMPLETE without the
inputs the START listed marks those edges as old.

    START inputs [crm.customers+schema], COMPLETE inputs []  ->  "inputs: crm.customers (seen earlier in this run) is missing"
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.history import RunHistory


def datasets_repeated(event: dict, history: RunHistory | None) -> Iterator[str]:
    if history is None or not history.events:
        return
    present = {}
    for role in ("inputs", "outputs"):
        for dataset in event.get(role) or ():
            present[(role, dataset.get("namespace"), dataset.get("name"))] = "schema" in (dataset.get("facets") or {})
    for key, had_schema in history.datasets.items():
        role, namespace, name = key
        if key not in present:
            yield f"{role}: {namespace}/{name} (seen earlier in this run) is missing; repeat inputs and outputs on every event"
        elif had_schema and not present[key]:
            yield f"{role}: {namespace}/{name} lost its schema facet (seen earlier in this run); repeat it on every event"
