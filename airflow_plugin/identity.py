"""RunIdentity from an Airflow task's context.

    task_identity(context, policy, "prod")  ->  RunIdentity(
        principal="alice",                       # the policy's identity rules (manual run -> triggering user)
        source="airflow", environment="prod",
        job_namespace="default", job_name="daily_sales.load",
        run_id="0190...",                        # the OpenLineage provider's run id for this task try
        parent_run_id="0190...", parent_job_name="daily_sales",   # the provider's DAG run id
        attributes={dag_id, task_id, dag_run_id, try_number, map_index, owner,
                    triggering_user, run_type, logical_date, principal_rule})

The run id is the one apache-airflow-providers-openlineage gives the task instance: a
deterministic UUIDv7 over (namespace, dag_id, task_id, try_number, map_index) at the logical
date (``build_task_instance_ol_run_id``). The identity comment the database logs, the ledger
record and the provider's task events therefore carry one run id. Without the provider the
same function of the same inputs is computed with openlineage-python.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Mapping

from lineage.identity.run_identity import RunIdentity
from lineage.identity.principal import accountable_principal, groups_of


def ol_namespace() -> str:
    try:
        from airflow.providers.openlineage.conf import namespace
    except ImportError:
        return os.environ.get("OPENLINEAGE_NAMESPACE", "default")
    return namespace()


def ol_task_run_id(dag_id: str, task_id: str, try_number: int, logical_date: datetime, map_index: int) -> str:
    try:
        from airflow.providers.openlineage.utils.utils import build_task_instance_ol_run_id
    except ImportError:
        from openlineage.client.uuid import generate_static_uuid

        data = f"{ol_namespace()}.{dag_id}.{task_id}.{try_number}.{map_index}".encode()
        return str(generate_static_uuid(instant=logical_date, data=data))
    return build_task_instance_ol_run_id(dag_id=dag_id, task_id=task_id, try_number=try_number, logical_date=logical_date, map_index=map_index)


def earlier_task_runs(identity: Any) -> list[str]:
    """The run ids of the earlier tries of the task try ``identity`` names (for
    ``lineage.record.outcomes.RetryGuard``: a retry must not run blind what an earlier try left unsettled)."""
    attributes = identity.attributes or {}
    try:
        try_number = int(attributes["try_number"])
        logical_date = attributes["logical_date"]
        if isinstance(logical_date, str):
            logical_date = datetime.fromisoformat(logical_date)
        return [ol_task_run_id(attributes["dag_id"], attributes["task_id"], number, logical_date, int(attributes.get("map_index", -1)))
                for number in range(1, try_number)]
    except (KeyError, TypeError, ValueError):
        return []


def ol_dag_run_id(dag_id: str, logical_date: datetime, clear_number: int) -> str:
    try:
        from airflow.providers.openlineage.utils.utils import build_dag_run_ol_run_id
    except ImportError:
        from openlineage.client.uuid import generate_static_uuid

        return str(generate_static_uuid(instant=logical_date, data=f"{ol_namespace()}.{dag_id}.{clear_number}".encode()))
    return build_dag_run_ol_run_id(dag_id=dag_id, logical_date=logical_date, clear_number=clear_number)


def _value(value: Any) -> Any:
    if hasattr(value, "value") and not isinstance(value, (str, int)):
        return value.value  # enums such as DagRunType
    return value


def task_facts(ti: Any, dag_run: Any, task: Any) -> dict[str, Any]:
    """The Airflow facts of one task try (works with the task context and with a task instance)."""
    logical_date = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "dag_run_id": ti.run_id,
        "try_number": int(ti.try_number or 0),
        "map_index": int(ti.map_index if ti.map_index is not None else -1),
        "owner": getattr(task, "owner", None) or "airflow",
        "triggering_user": getattr(dag_run, "triggering_user_name", None),
        "run_type": _value(getattr(dag_run, "run_type", None)),
        "logical_date": logical_date,
        "clear_number": getattr(dag_run, "clear_number", 0) or 0,
        "dag_run_conf": getattr(dag_run, "conf", None) or {},
    }


def identity_from_facts(facts: Mapping[str, Any], policy, environment: str) -> RunIdentity:
    """The accountable identity of a task try, by the policy's ``identity`` rules."""
    dag_id, task_id = facts["dag_id"], facts["task_id"]
    job = f"{dag_id}.{task_id}"
    values = {
        "triggering_user": facts.get("triggering_user"),
        "owner": facts.get("owner"),
        "dag_id": dag_id,
        "task_id": task_id,
        "job": job,
        "run_type": facts.get("run_type"),
        "environment": environment,
    }
    principal, rule = accountable_principal(policy.policy.identity, values, facts.get("run_type"), dag_id)
    namespace = ol_namespace()
    logical_date = facts["logical_date"]
    run_id = ol_task_run_id(dag_id, task_id, facts["try_number"], logical_date, facts["map_index"])
    dag_run_ol_id = ol_dag_run_id(dag_id, logical_date, facts.get("clear_number", 0))
    root_run, root_namespace, root_job = _root_from_conf(facts.get("dag_run_conf") or {})
    attributes = {
        "dag_id": dag_id,
        "task_id": task_id,
        "dag_run_id": facts["dag_run_id"],
        "try_number": facts["try_number"],
        "map_index": facts["map_index"],
        "owner": facts.get("owner"),
        "triggering_user": facts.get("triggering_user"),
        "run_type": facts.get("run_type"),
        "logical_date": logical_date.isoformat() if hasattr(logical_date, "isoformat") else logical_date,
        "principal_rule": rule,
    }
    return RunIdentity(
        principal=principal,
        groups=groups_of(policy.policy.identity, principal),
        environment=environment,
        source="airflow",
        job_namespace=namespace,
        job_name=job,
        run_id=run_id,
        parent_run_id=dag_run_ol_id,
        parent_job_namespace=namespace,
        parent_job_name=dag_id,
        root_run_id=root_run or dag_run_ol_id,
        root_job_namespace=root_namespace or namespace,
        root_job_name=root_job or dag_id,
        attributes={key: value for key, value in attributes.items() if value is not None},
    )


def task_identity(context: Mapping[str, Any], policy, environment: str) -> RunIdentity:
    return identity_from_facts(task_facts(context["ti"], context["dag_run"], context["task"]), policy, environment)


def task_instance_identity(ti: Any, policy, environment: str) -> RunIdentity:
    """The same identity from a task instance alone (what listeners and the provider's facet hook get):
    the task runner's RuntimeTaskInstance (its template context), or a scheduler-side TaskInstance."""
    context = None
    if hasattr(ti, "get_template_context"):
        try:
            context = ti.get_template_context()
        except Exception:
            context = None
    if context and context.get("dag_run") is not None:
        return task_identity(context, policy, environment)
    return identity_from_facts(task_facts(ti, getattr(ti, "dag_run", None), getattr(ti, "task", None)), policy, environment)


def with_target(identity: RunIdentity, target) -> RunIdentity:
    """The identity as it reaches one connection: its login and host join the attributes."""
    attributes = dict(identity.attributes)
    attributes.update({"conn_id": target.conn_id, "conn_host": target.host, "database": target.database})
    return identity.with_(database_user=target.login, attributes={k: v for k, v in attributes.items() if v is not None})


def _root_from_conf(conf: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """A DAG run triggered by another OpenLineage-tracked job carries its root in ``conf`` (as the provider reads it)."""
    try:
        from airflow.providers.openlineage.utils.utils import (
            get_parent_information_from_dagrun_conf,
            get_root_information_from_dagrun_conf,
        )
    except ImportError:
        return None, None, None
    if not conf:
        return None, None, None
    root = get_root_information_from_dagrun_conf(conf)
    if root:
        return root["root_parent_run_id"], root["root_parent_job_namespace"], root["root_parent_job_name"]
    parent = get_parent_information_from_dagrun_conf(conf)
    if parent:
        return parent["parent_run_id"], parent["parent_job_namespace"], parent["parent_job_name"]
    return None, None, None
