"""What Marquez needs beyond the OpenLineage spec (docs/marquez.md), one check per file.

Each check is a pure function ``check(event) -> problems`` over one event as JSON; the stream
checks (``datasets_repeated``, ``parent_every_event``, ``emitted_once``) also see
the earlier events of the same run. The validator, ``lineage events validate`` and the
Marquez-contract server (422 on any problem) all run these.

Two kinds: ``ANY_PRODUCER`` are what Marquez refuses or cannot read from anyone (a time without
offset, a run id that is no UUID, a dataset namespace outside its pattern, a jobType facet
without its three fields, facet URIs); the others are what a producer must do for Marquez to
keep everything it sends (repeat datasets, parent on every event, column lineage only for
schema fields, its own schemas for custom facets, ...). Marquez accepts events that break
those, so they are held against events this project produced (``is_ours``), not against the
OpenLineage provider's or anyone else's.
"""

from __future__ import annotations

from lineage.deliver.marquez.column_lineage_fields import column_lineage_fields
from lineage.deliver.marquez.custom_facet_schemas import custom_facet_schemas
from lineage.deliver.marquez.dataset_namespaces import dataset_namespaces
from lineage.deliver.marquez.event_time_offset import event_time_offset
from lineage.deliver.marquez.event_type import event_type
from lineage.deliver.marquez.facet_uris import facet_uris
from lineage.deliver.marquez.job_namespaces import job_namespaces
from lineage.deliver.marquez.job_type_fields import job_type_fields
from lineage.deliver.marquez.names_without_separators import names_without_separators
from lineage.deliver.marquez.parent_facet import parent_facet
from lineage.deliver.marquez.run_id_uuid import run_id_uuid
from lineage.deliver.marquez.datasets_repeated import datasets_repeated
from lineage.deliver.marquez.emitted_once import emitted_once
from lineage.deliver.marquez.history import RunHistory
from lineage.deliver.marquez.parent_every_event import parent_every_event

EVENT_CHECKS = {
    "event_type": event_type,
    "job_type_fields": job_type_fields,
    "event_time_offset": event_time_offset,
    "run_id_uuid": run_id_uuid,
    "dataset_namespaces": dataset_namespaces,
    "job_namespaces": job_namespaces,
    "facet_uris": facet_uris,
    "custom_facet_schemas": custom_facet_schemas,
    "names_without_separators": names_without_separators,
    "parent_facet": parent_facet,
    "column_lineage_fields": column_lineage_fields,
}

STREAM_CHECKS = {
    "datasets_repeated": datasets_repeated,
    "parent_every_event": parent_every_event,
    "emitted_once": emitted_once,
}

# what Marquez refuses or misreads from any producer (the rest: our events' promises)
ANY_PRODUCER = frozenset({"event_time_offset", "run_id_uuid", "dataset_namespaces", "job_type_fields", "facet_uris"})
OUR_PRODUCER = "https://github.com/lineage-governance/lineage-governance"


def is_ours(event: dict) -> bool:
    """Produced by this project (``lineage.deliver.facets.PRODUCER``)."""
    producer = event.get("producer") if isinstance(event, dict) else None
    return isinstance(producer, str) and producer.startswith(OUR_PRODUCER)


def event_checks(event: dict) -> dict:
    """The per-event checks that apply to ``event``: all for ours, ``ANY_PRODUCER`` for others."""
    return EVENT_CHECKS if is_ours(event) else {name: check for name, check in EVENT_CHECKS.items() if name in ANY_PRODUCER}


def stream_checks(event: dict) -> dict:
    """The checks over a run's earlier events: our events' promises only."""
    return STREAM_CHECKS if is_ours(event) else {}


__all__ = ["ANY_PRODUCER", "EVENT_CHECKS", "STREAM_CHECKS", "RunHistory", "event_checks", "is_ours", "stream_checks"]
