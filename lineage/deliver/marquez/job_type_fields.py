"""A ``jobType`` job facet carries processingType, integration and jobType (Marquez needs all three).

    "jobType": {"processingType": "BATCH", "integration": "DBT"}  ->  "job.facets.jobType.jobType is missing"
"""

from __future__ import annotations

from typing import Iterator

FIELDS = ("processingType", "integration", "jobType")


def job_type_fields(event: dict) -> Iterator[str]:
    facet = ((event.get("job") or {}).get("facets") or {}).get("jobType")
    if facet is None:
        return
    for name in FIELDS:
        if not isinstance(facet.get(name), str) or not facet.get(name):
            yield f"job.facets.jobType.{name} is missing (Marquez needs processingType, integration and jobType)"
