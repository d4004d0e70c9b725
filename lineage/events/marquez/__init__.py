"""What Marquez needs beyond the OpenLineage spec (MARQUEZ.md), one check per file.

Each check is a pure function ``check(event) -> problems`` over one event as JSON; the stream
checks (``datasets_repeated``, ``parent_every_event``, ``emitted_once``) also see
the earlier events of the same run. The validator, ``lineage events validate`` and the test
Marquez server (422 on any problem) all run these.
"""

from __future__ import annotations

from lineage.events.marquez.column_lineage_fields import column_lineage_fields
from lineage.events.marquez.dataset_namespaces import dataset_namespaces
from lineage.events.marquez.event_time_offset import event_time_offset
from lineage.events.marquez.event_type import event_type
from lineage.events.marquez.facet_uris import facet_uris
from lineage.events.marquez.job_namespaces import job_namespaces
from lineage.events.marquez.job_type_fields import job_type_fields
from lineage.events.marquez.names_without_separators import names_without_separators
from lineage.events.marquez.parent_facet import parent_facet
from lineage.events.marquez.run_id_uuid import run_id_uuid
from lineage.events.marquez.datasets_repeated import datasets_repeated
from lineage.events.marquez.emitted_once import emitted_once
from lineage.events.marquez.history import RunHistory
from lineage.events.marquez.parent_every_event import parent_every_event

EVENT_CHECKS = {
    "event_type": event_type,
    "job_type_fields": job_type_fields,
    "event_time_offset": event_time_offset,
    "run_id_uuid": run_id_uuid,
    "dataset_namespaces": dataset_namespaces,
    "job_namespaces": job_namespaces,
    "facet_uris": facet_uris,
    "names_without_separators": names_without_separators,
    "parent_facet": parent_facet,
    "column_lineage_fields": column_lineage_fields,
}

STREAM_CHECKS = {
    "datasets_repeated": datasets_repeated,
    "parent_every_event": parent_every_event,
    "emitted_once": emitted_once,
}

__all__ = ["EVENT_CHECKS", "STREAM_CHECKS", "RunHistory"]
