"""The run identity of a dbt invocation: one OpenLineage run, the parent of its nodes' runs.

    dbt_identity(project="governed_shop", command="build", env={"LINEAGE_PRINCIPAL": "svc:dbt"})
    -> RunIdentity(principal="svc:dbt", source="dbt", job "lineage-governance"/"dbt.governed_shop.build",
                   run_id=<new UUIDv7>)
    with OPENLINEAGE_PARENT_ID="airflow/shop_dag.dbt_build/<run id>" (the Airflow task):
    -> job "airflow"/"shop_dag.dbt_build.dbt.governed_shop.build", parent = that task run

The macro ``identity_comment`` builds the query comment from the same environment with the
same defaults, so the comment dbt stamps on every query carries this identity's run id (the
runner exports it as ``LINEAGE_RUN_ID``). ``comment_environment`` is what the runner exports;
nothing of it reaches the profile, which dbt hashes for partial parsing (the PostgreSQL
``application_name`` is set as dbt opens each connection, see ``lineage.adapters.dbt.runner``).
"""

from __future__ import annotations

import json
from typing import Mapping

from lineage.identity.run_identity import RunIdentity, from_environment, parse_parent

AIRFLOW_CONTEXT = (("dag_id", "AIRFLOW_CTX_DAG_ID"), ("task_id", "AIRFLOW_CTX_TASK_ID"), ("try_number", "AIRFLOW_CTX_TRY_NUMBER"))


def dbt_job_name(project: str, command: str | None = None) -> str:
    return f"dbt.{project}.{command}" if command else f"dbt.{project}"


def dbt_identity(
    project: str,
    command: str | None = None,
    env: Mapping[str, str] | None = None,
    principal: str | None = None,
    groups: tuple[str, ...] | None = None,
    environment: str | None = None,
    invocation_id: str | None = None,
    node_id: str | None = None,
    run_id: str | None = None,
) -> RunIdentity:
    """The identity from ``LINEAGE_*``, ``OPENLINEAGE_*`` and ``AIRFLOW_CTX_*`` variables.

    The parent run (the Airflow task) comes from ``OPENLINEAGE_CONTEXT`` when set, else from
    ``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID`` (what the Airflow OpenLineage
    provider's ``lineage_parent_id`` / ``lineage_root_parent_id`` macros produce).
    """
    env = dict(env if env is not None else _os_environ())
    _parents_from_context(env)
    attributes = {key: env[variable] for key, variable in AIRFLOW_CONTEXT if env.get(variable)}
    if invocation_id:
        attributes["invocation_id"] = invocation_id
    if node_id:
        attributes["node_id"] = node_id
    _, parent_job, _ = parse_parent(env.get("OPENLINEAGE_PARENT_ID"))
    # Marquez nests a child under its parent by name: {parent job}.{child}, as Airflow's {dag}.{task}
    default_job = f"{parent_job}.{dbt_job_name(project, command)}" if parent_job else dbt_job_name(project, command)
    return from_environment(
        principal=principal,
        groups=groups,
        environment=environment,
        source="dbt",
        job_name=env.get("LINEAGE_JOB_NAME") or default_job,
        env=env,
        run_id=run_id,
        **attributes,
    )


def governed_identity(policy, project: str, command: str | None, env: Mapping[str, str], principal: str | None = None,
                      groups: tuple[str, ...] | None = None, environment: str | None = None) -> RunIdentity:
    """``dbt_identity`` with the policy's ``identity`` section applied: without an explicit principal
    (``--principal``, ``LINEAGE_PRINCIPAL``) its ``principals`` rules name one from what the run
    knows (``{dag_id}``, ``{task_id}``, ``{owner}`` from Airflow's ``AIRFLOW_CTX_*``, ``{job}``,
    ``{environment}``, the run type); its ``groups`` add memberships to the explicit ones."""
    from lineage.identity.principal import accountable_principal, groups_of

    explicit = principal or env.get("LINEAGE_PRINCIPAL") or None
    identity = dbt_identity(project, command, env=env, principal=explicit, groups=groups, environment=environment)
    if explicit is None:
        dag, task = env.get("AIRFLOW_CTX_DAG_ID"), env.get("AIRFLOW_CTX_TASK_ID")
        job = f"{dag}.{task}" if dag and task else identity.job_name
        run = env.get("AIRFLOW_CTX_DAG_RUN_ID") or ""
        run_type = run.split("__", 1)[0] if "__" in run else None
        values = {"dag_id": dag, "task_id": task, "owner": env.get("AIRFLOW_CTX_DAG_OWNER"), "job": job,
                  "environment": identity.environment, "run_type": run_type}
        named, _ = accountable_principal(policy.identity, values, run_type, job)
        if named != "unknown":
            identity = identity.with_(principal=named)
    memberships = groups_of(policy.identity, identity.principal)
    if memberships:
        identity = identity.with_(groups=tuple(sorted(set(identity.groups) | set(memberships))))
    return identity


def node_identity(invocation: RunIdentity, node_id: str, invocation_id: str | None = None) -> RunIdentity:
    """The invocation's identity as one node's statements carry it (same run, node id attribute)."""
    attributes = dict(invocation.attributes)
    attributes["node_id"] = node_id
    if invocation_id:
        attributes["invocation_id"] = invocation_id
    return invocation.with_(attributes=attributes)


def comment_environment(identity: RunIdentity, policy_version: str | None = None) -> dict[str, str]:
    """What the runner exports so ``identity_comment`` renders this identity."""
    env = {
        "LINEAGE_RUN_ID": identity.run_id,
        "LINEAGE_JOB_NAMESPACE": identity.job_namespace,
        "LINEAGE_JOB_NAME": identity.job_name,
        "LINEAGE_PRINCIPAL": identity.principal,
    }
    if identity.actor:
        env["LINEAGE_ACTOR"] = identity.actor
    if policy_version:
        env["LINEAGE_POLICY_VERSION"] = policy_version
    if identity.parent_run_id:
        env["OPENLINEAGE_PARENT_ID"] = f"{identity.parent_job_namespace}/{identity.parent_job_name}/{identity.parent_run_id}"
    return env


def _parents_from_context(env: dict[str, str]) -> None:
    """``OPENLINEAGE_CONTEXT`` (openlineage-dbt's standard form) wins over the two legacy variables:
    ``{"parent": {"run": {"runId": ...}, "job": {"namespace": ..., "name": ...}, "root": {...}}}``."""
    context = env.get("OPENLINEAGE_CONTEXT")
    if not context:
        return
    try:
        parent = json.loads(context).get("parent")
        run_id, namespace, name = parent["run"]["runId"], parent["job"]["namespace"], parent["job"]["name"]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise ValueError(
            "OPENLINEAGE_CONTEXT is not {\"parent\": {\"run\": {\"runId\": ...}, \"job\": {\"namespace\": ..., \"name\": ...}}}"
        ) from None
    root = parent.get("root") or {}
    root_run, root_job = root.get("run") or {}, root.get("job") or {}
    env["OPENLINEAGE_PARENT_ID"] = f"{namespace}/{name}/{run_id}"
    env["OPENLINEAGE_ROOT_PARENT_ID"] = (
        f"{root_job.get('namespace', namespace)}/{root_job.get('name', name)}/{root_run.get('runId', run_id)}"
    )


def _os_environ() -> Mapping[str, str]:
    import os

    return os.environ
