"""Task-level OpenLineage events when the OpenLineage provider does not emit them.

With apache-airflow-providers-openlineage installed and enabled, the provider emits each task's
START and COMPLETE/FAIL (with our facets, ``airflow_plugin.facets``) and the plugin emits only
the statement runs. Without it (not installed, or ``[openlineage] disabled``), the plugin emits
the task's runs itself with the events issue's job-level builder: the same run id (the
provider's deterministic one), job ``{dag_id}.{task_id}``, parent the DAG run, identity facet,
and on COMPLETE/FAIL the task's decision facet. They go through the same sinks as the statement
events (the spool).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("airflow.task.lineage_governance")


def _job_events():
    from airflow_plugin.failures import GovernanceConfigError
    from airflow_plugin.runtime import provider_emits_task_events, runtime

    if provider_emits_task_events():
        return None, None
    try:
        current = runtime()
    except GovernanceConfigError:
        return None, None  # the task fails at start with the policy error
    if current is None or current.emitter is None:
        return None, None
    from lineage.deliver.governance import GovernanceEvents

    return current, GovernanceEvents(current.emitter)


def _rescheduled(task_instance: Any) -> bool:
    context = getattr(task_instance, "_ti_context_from_server", None)
    return bool(getattr(context, "task_reschedule_count", 0))


def task_started(task_instance: Any) -> None:
    current, events = _job_events()
    if events is None or _rescheduled(task_instance):
        return  # a rescheduled attempt continues the run that already started
    from airflow_plugin.identity import task_instance_identity

    identity = task_instance_identity(task_instance, current.policy, current.settings.environment)
    events.job_started(identity, "TASK")


def task_finished(task_instance: Any, state: str, error: Any) -> None:
    current, events = _job_events()
    if events is None:
        return
    from airflow_plugin.facets import task_decision_facet
    from airflow_plugin.identity import task_instance_identity
    from airflow_plugin.runtime import governance_of

    identity = task_instance_identity(task_instance, current.policy, current.settings.environment)
    governance = governance_of(identity.run_id)
    run_facets = {}
    if governance is not None and governance.decisions:
        run_facets["lineageGovernance_decision"] = task_decision_facet(governance.decisions, "completed" if state == "COMPLETE" else "failed")
    if state == "COMPLETE":
        events.job_completed(identity, "TASK", run_facets=run_facets)
    else:
        events.job_failed(identity, "TASK", error=str(error) if error else "failed", run_facets=run_facets)
