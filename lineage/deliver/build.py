"""OpenLineage RunEvents for governed work, built with openlineage-python's event_v2 classes.

Two shapes:

- a **statement run**: one governed SQL statement, a child of the identity's run
      job  {identity.job_namespace} / {identity.job_name}.query.{n}
      run  a new UUIDv7; parent = the identity's run (root = the identity's root, else its parent,
           else the identity's run); facets identity, decision, processing_engine (+ errorMessage)
      job facets sql (the SQL that ran, masked form), jobType (BATCH, LINEAGE_GOVERNANCE, QUERY)
- a **job run**: a whole Airflow task, dbt invocation or dbt node (``job_event``), run id =
      ``identity.run_id``, parent = the identity's parent when it has one.

Every event carries ``eventType``, an ``eventTime`` in UTC with an offset, and facets with our
producer and a ``_schemaURL``: what Marquez asks for (docs/marquez.md).
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import re

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
from openlineage.client.event_v2 import RunState as EventType
from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run, processing_engine_run, sql_job

from lineage.disclosure import shown_findings
from lineage.deliver.facets import (
    PRODUCER,
    GovernanceApproval,
    GovernanceFinding,
    LineageGovernanceDecisionRunFacet,
    LineageGovernanceIdentityRunFacet,
    version,
)
from lineage.deliver.naming import sanitize_job_namespace, sanitize_name
from lineage.fingerprint import normalize
from lineage.identity.run_identity import RunIdentity, new_run_id
from lineage.model import Action, Decision

INTEGRATION = "LINEAGE_GOVERNANCE"
INTEGRATIONS = {"airflow": "AIRFLOW", "dbt": "DBT"}
MAX_ERROR_CHARS = 2000
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def event_time() -> str:
    """Now in UTC with an explicit ``+00:00`` offset (Marquez rejects zone suffixes)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


@functools.lru_cache(maxsize=1)
def _openlineage_version() -> str:
    try:
        return importlib.metadata.version("openlineage-python")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


@functools.lru_cache(maxsize=1)
def processing_engine_facet() -> processing_engine_run.ProcessingEngineRunFacet:
    return processing_engine_run.ProcessingEngineRunFacet(
        version=version(), name="lineage-governance", openlineageAdapterVersion=_openlineage_version(), producer=PRODUCER
    )


@functools.lru_cache(maxsize=64)
def job_type_facet(job_type: str, integration: str = INTEGRATION, processing_type: str = "BATCH") -> job_type_job.JobTypeJobFacet:
    """Marquez needs all three of processingType, integration and jobType."""
    return job_type_job.JobTypeJobFacet(processingType=processing_type, integration=integration, jobType=job_type, producer=PRODUCER)


def identity_facet(identity: RunIdentity) -> LineageGovernanceIdentityRunFacet:
    return LineageGovernanceIdentityRunFacet(
        principal=identity.principal,
        environment=identity.environment,
        source=identity.source,
        groups=list(identity.groups),
        actor=identity.actor,
        databaseUser=identity.database_user,
        attributes={str(key): _scalar(value) for key, value in identity.attributes.items()},
        producer=PRODUCER,
    )


def _scalar(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _job(namespace: str, name: str, facets: dict | None = None) -> Job:
    return Job(namespace=sanitize_job_namespace(namespace), name=sanitize_name(name), facets=facets or {})


def _parent(run_id: str, namespace: str, name: str, root: tuple[str, str, str] | None) -> parent_run.ParentRunFacet:
    root_facet = None
    if root is not None:
        root_run, root_namespace, root_name = root
        root_facet = parent_run.Root(
            run=parent_run.RootRun(runId=root_run),
            job=parent_run.RootJob(namespace=sanitize_job_namespace(root_namespace), name=sanitize_name(root_name)),
        )
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=run_id),
        job=parent_run.Job(namespace=sanitize_job_namespace(namespace), name=sanitize_name(name)),
        root=root_facet,
        producer=PRODUCER,
    )


def _root_of(identity: RunIdentity) -> tuple[str, str, str] | None:
    if identity.root_run_id and identity.root_job_namespace and identity.root_job_name:
        return identity.root_run_id, identity.root_job_namespace, identity.root_job_name
    if identity.parent_run_id and identity.parent_job_namespace and identity.parent_job_name:
        return identity.parent_run_id, identity.parent_job_namespace, identity.parent_job_name
    return None


def statement_parent_facet(identity: RunIdentity) -> parent_run.ParentRunFacet:
    """A statement run's parent is the identity's run; the root is the top of that tree."""
    root = _root_of(identity) or (identity.run_id, identity.job_namespace, identity.job_name)
    return _parent(identity.run_id, identity.job_namespace, identity.job_name, root)


def job_parent_facet(identity: RunIdentity) -> parent_run.ParentRunFacet | None:
    """A job run's parent is the identity's parent (a DAG run, a dbt invocation), if any."""
    if not (identity.parent_run_id and identity.parent_job_namespace and identity.parent_job_name):
        return None
    return _parent(identity.parent_run_id, identity.parent_job_namespace, identity.parent_job_name, _root_of(identity))


def statement_job_name(identity: RunIdentity, number: int) -> str:
    return f"{identity.job_name}.query.{number}"


def decision_facet(decision: Decision, outcome: str | None = None, approval: GovernanceApproval | None = None) -> LineageGovernanceDecisionRunFacet:
    facts = decision.facts
    return LineageGovernanceDecisionRunFacet(
        action=decision.action.value,
        effectiveAction=decision.effective_action.value,
        mode=decision.mode,
        policyVersion=decision.policy_version,
        findings=[
            GovernanceFinding(rule=f.rule, action=(f.action or f.default_action or Action.ALLOW).value, message=f.message, object=f.object)
            for f in shown_findings(decision)
        ],
        statementKind=facts.kind,
        fingerprint=normalize(decision.original_sql, facts.dialect)[1],
        outcome=outcome,
        maskedColumns=[column.qualified for column in decision.masked_columns],
        approval=approval,
        producer=PRODUCER,
    )


def statement_sql(decision: Decision, dialect: str, sensitive: bool) -> str:
    """The SQL for the ``sql`` facet: what ran (the masked form). When the statement touches
    classified data, or never ran, literals become ``?``: a planted value must not reach Marquez."""
    if sensitive or not decision.effective_action.may_run:
        return normalize(decision.sql, dialect)[0]
    return decision.sql


def error_text(error: str | None, sensitive: bool) -> str:
    """The first line of a database error (DETAIL/HINT lines carry row values); quoted parts
    become ``?`` when the statement touches classified data."""
    lines = (error or "").strip().splitlines()
    text = lines[0] if lines else "failed"
    if sensitive:
        text = _QUOTED.sub("?", text)
    return text[:MAX_ERROR_CHARS]


def refusal_text(decision: Decision) -> str:
    """Why a statement was refused, from its findings (never the statement's own text)."""
    findings = shown_findings(decision)
    relevant = [f for f in findings if f.action == decision.action] or list(findings)
    reasons = "; ".join(f"{f.rule}: {f.message}" for f in relevant) or decision.action.value
    verb = "blocked" if decision.effective_action == Action.BLOCK else "held for approval"
    return f"{verb} by lineage-governance (policy {decision.policy_version[:19]}): {reasons}"[:MAX_ERROR_CHARS]


def statement_run_facets(identity: RunIdentity) -> dict:
    """The run facets every event of a statement run repeats (built once per run)."""
    return {
        "parent": statement_parent_facet(identity),
        "processing_engine": processing_engine_facet(),
        "lineageGovernance_identity": identity_facet(identity),
    }


def statement_job_facets(sql: str, dialect: str) -> dict:
    return {
        "jobType": job_type_facet("QUERY"),
        "sql": sql_job.SQLJobFacet(query=sql, dialect=dialect, producer=PRODUCER),
    }


def statement_event(
    event_type: EventType,
    identity: RunIdentity,
    decision: Decision,
    *,
    run_id: str,
    number: int,
    inputs: list[InputDataset],
    outputs: list[OutputDataset],
    outcome: str,
    run_facets: dict,
    job_facets: dict,
    error: str | None = None,
    approval: GovernanceApproval | None = None,
    event_time_value: str | None = None,
) -> RunEvent:
    """One event of a statement run; ``run_facets``/``job_facets`` from ``statement_run_facets``
    and ``statement_job_facets``, the same objects on every event of the run."""
    facets = dict(run_facets)
    facets["lineageGovernance_decision"] = decision_facet(decision, outcome, approval)
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="SQL", producer=PRODUCER)
    return RunEvent(
        eventType=event_type,
        eventTime=event_time_value or event_time(),
        run=Run(runId=run_id, facets=facets),
        job=_job(identity.job_namespace, statement_job_name(identity, number), job_facets),
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def job_event(
    event_type: EventType,
    identity: RunIdentity,
    *,
    job_type: str,
    integration: str | None = None,
    processing_type: str = "BATCH",
    inputs: list[InputDataset] | tuple = (),
    outputs: list[OutputDataset] | tuple = (),
    error: str | None = None,
    programming_language: str = "python",
    run_facets: dict | None = None,
    job_facets: dict | None = None,
    event_time_value: str | None = None,
) -> RunEvent:
    """START/COMPLETE/FAIL of a whole task, dbt invocation or dbt node (``identity.run_id``).

    ``job_type``: TASK or DAG for Airflow, JOB for a dbt invocation, MODEL/TEST/SEED/SNAPSHOT for a
    dbt node. Pass the same inputs and outputs (with schema facets) on every event of the run.
    """
    facets: dict = {
        "processing_engine": processing_engine_facet(),
        "lineageGovernance_identity": identity_facet(identity),
    }
    parent = job_parent_facet(identity)
    if parent is not None:
        facets["parent"] = parent
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error[:MAX_ERROR_CHARS], programmingLanguage=programming_language, producer=PRODUCER
        )
    facets.update(run_facets or {})
    all_job_facets = {"jobType": job_type_facet(job_type, integration or INTEGRATIONS.get(identity.source, INTEGRATION), processing_type)}
    all_job_facets.update(job_facets or {})
    return RunEvent(
        eventType=event_type,
        eventTime=event_time_value or event_time(),
        run=Run(runId=identity.run_id, facets=facets),
        job=_job(identity.job_namespace, identity.job_name, all_job_facets),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=PRODUCER,
    )


def new_statement_run_id() -> str:
    return new_run_id()
