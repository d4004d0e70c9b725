"""Job namespaces (the job's, its parent's and root's) use only ``[a-zA-Z0-9:/_\\-.@+]``.

Marquez cleans other characters out, so a child would no longer find its parent.

    "job": {"namespace": "airflow prod", ...}  ->  "job.namespace 'airflow prod' has characters Marquez removes"
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.common import jobs
from lineage.deliver.naming import JOB_NAMESPACE_PATTERN


def job_namespaces(event: dict) -> Iterator[str]:
    for where, job in jobs(event):
        namespace = job.get("namespace")
        if not isinstance(namespace, str) or not JOB_NAMESPACE_PATTERN.match(namespace):
            yield f"{where}.namespace {namespace!r} has characters Marquez removes (keep to [a-zA-Z0-9:/_-.@+])"
