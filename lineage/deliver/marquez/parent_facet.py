"""A ``parent`` facet names a run and a job in the child's job namespace, and the child's job
name extends the parent's (``{parent}.{child}``, as Airflow names ``{dag_id}.{task_id}``).

    job dbt/jaffle.model.orders, parent airflow/etl  ->  "... parent job namespace 'airflow' differs from the job's 'dbt'"
"""

from __future__ import annotations

from typing import Iterator


def parent_facet(event: dict) -> Iterator[str]:
    parent = (((event.get("run") or {}).get("facets")) or {}).get("parent")
    if parent is None:
        return
    job = event.get("job") or {}
    parent_job = (parent.get("job") or {}) if isinstance(parent, dict) else {}
    if not parent_job.get("namespace") or not parent_job.get("name"):
        yield "run.facets.parent.job needs namespace and name"
        return
    if not ((parent.get("run") or {}).get("runId")):
        yield "run.facets.parent.run.runId is missing"
    if parent_job["namespace"] != job.get("namespace"):
        yield (
            f"run.facets.parent.job.namespace {parent_job['namespace']!r} differs from the job's {job.get('namespace')!r} "
            "(Marquez creates an unknown parent in the child's namespace)"
        )
    name = job.get("name") or ""
    if not name.startswith(parent_job["name"] + "."):
        yield f"job.name {name!r} does not extend its parent's name {parent_job['name']!r} as '{parent_job['name']}.<child>'"
