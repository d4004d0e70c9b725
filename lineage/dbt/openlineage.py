"""OpenLineage for a dbt invocation: one run for the invocation, one per node under it.

    Airflow task run                       (OPENLINEAGE_PARENT_ID / _ROOT_PARENT_ID / OPENLINEAGE_CONTEXT)
      └─ dbt.governed_shop.build           the invocation: START when dbt starts, COMPLETE/FAIL at its end;
         │                                 its run id is the run_id of every query comment and ledger record
         └─ dbt.model.governed_shop.stg_customers     START / COMPLETE (or FAIL) per node:
                 inputs and outputs with dataSource, schema, classifications (carried through the DAG),
                 columnLineage from the pre-flight's analysis (through select * and dbt-duckdb's
                 parenthesised DDL), masked columns flagged; lineageGovernance_identity and _decision,
                 and dbt_run (the dbt invocation_id)

Built with the events package (``lineage.events.build.job_event``, ``statement_datasets``); the
runner sends them through the events emitter (the durable spool, a JSONL file, or both).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import attr
from openlineage.client.event_v2 import RunState
from openlineage.client.facet_v2 import RunFacet

from lineage.classify import ClassificationEntry
from lineage.dbt.preflight import WILDCARD, NodeResult, Report
from lineage.events.build import decision_facet, job_event
from lineage.events.datasets import statement_datasets
from lineage.events.facets import PRODUCER
from lineage.identity import RunIdentity, new_run_id
from lineage.model import Action, Lineage, MaskedColumn

# the schema openlineage-dbt gives its dbt_run facet
DBT_RUN_SCHEMA = "https://github.com/OpenLineage/OpenLineage/tree/main/integration/common/openlineage/schema/dbt-run-run-facet.json"
JOB_TYPES = {"model": "MODEL", "seed": "SEED", "snapshot": "SNAPSHOT", "test": "TEST", "operation": "OPERATION"}


@attr.define
class DbtRunRunFacet(RunFacet):
    """openlineage-dbt's ``dbt_run`` facet: the dbt invocation a run belongs to."""

    invocation_id: str
    project_name: str | None = attr.field(default=None)
    dbt_runtime: str | None = attr.field(default="core")

    @staticmethod
    def _get_schema() -> str:
        return DBT_RUN_SCHEMA


@dataclass
class NodeContext:
    report: Report | None
    engine: Any
    where: Any
    invocation_id: str | None
    project: str | None = None
    _datasets: dict = field(default_factory=dict)
    _classifier: Any = None

    def classifier(self):
        """The policy's and the project's classifications, plus what the DAG carried into models."""
        if self._classifier is None and self.engine is not None:
            extra = []
            if self.report is not None:
                for relation, columns in self.report.columns.items():
                    for column, carried in columns.items():
                        if column != WILDCARD and carried:
                            extra.append(ClassificationEntry(relation, column, tuple(sorted(carried)), origin="dbt lineage"))
            self._classifier = self.engine.classifier.with_entries(extra)
        return self._classifier


def node_job_name(invocation_job: str, node_id: str) -> str:
    """``{invocation job}.{resource type}.{name}``: a child's name extends its parent's (Marquez).

    >>> node_job_name("dbt.shop.build", "model.shop.stg_customers")
    'dbt.shop.build.model.stg_customers'
    """
    kind, _, rest = node_id.partition(".")
    _, _, name = rest.partition(".")
    return f"{invocation_job}.{kind}.{name or rest}"


def node_run_identity(invocation: RunIdentity, node_id: str, invocation_id: str | None) -> RunIdentity:
    """A node's run: a child of the invocation's run, under the same root."""
    if invocation.root_run_id:
        root = (invocation.root_run_id, invocation.root_job_namespace, invocation.root_job_name)
    else:
        root = (invocation.run_id, invocation.job_namespace, invocation.job_name)
    attributes = dict(invocation.attributes)
    attributes["node_id"] = node_id
    if invocation_id:
        attributes["invocation_id"] = invocation_id
    return replace(
        invocation,
        job_name=node_job_name(invocation.job_name, node_id),
        run_id=new_run_id(),
        parent_run_id=invocation.run_id,
        parent_job_namespace=invocation.job_namespace,
        parent_job_name=invocation.job_name,
        root_run_id=root[0],
        root_job_namespace=root[1],
        root_job_name=root[2],
        attributes=attributes,
    )


def invocation_event(state: str, identity: RunIdentity, invocation_id: str | None, project: str | None = None, error: str | None = None):
    facets = {}
    if invocation_id:
        facets["dbt_run"] = DbtRunRunFacet(invocation_id=invocation_id, project_name=project, producer=PRODUCER)
    return job_event(RunState(state), identity, job_type="JOB", integration="DBT", error=error, run_facets=facets)


def node_event(state: str, identity: RunIdentity, node_id: str, resource_type: str, context: NodeContext, error: str | None = None):
    result = context.report.result(node_id) if context.report is not None else None
    inputs, outputs = node_datasets(result, context) if result is not None else ([], [])
    facets: dict = {}
    if context.invocation_id:
        facets["dbt_run"] = DbtRunRunFacet(invocation_id=context.invocation_id, project_name=context.project, producer=PRODUCER)
    if result is not None and context.report is not None:
        decision = context.report.decision_for(result)
        if decision is not None:
            decision = _without_literals(decision)
            outcome = {"START": "started", "COMPLETE": "completed"}.get(state, "failed")
            facets["lineageGovernance_decision"] = decision_facet(decision, outcome)
    return job_event(
        RunState(state), identity,
        job_type=JOB_TYPES.get(str(resource_type).lower(), "MODEL"), integration="DBT",
        inputs=inputs, outputs=outputs, error=error, run_facets=facets, programming_language="SQL",
    )


def node_datasets(result: NodeResult, context: NodeContext):
    """The node's inputs and outputs (built once: every event of a run repeats them)."""
    key = result.node.unique_id
    cached = context._datasets.get(key)
    if cached is not None:
        return cached
    if result.decision is None or context.where is None:
        datasets = ([], [])
    else:
        datasets = statement_datasets(_lineage_decision(result), context.where, context.engine.catalog if context.engine else None, context.classifier())
    context._datasets[key] = datasets
    return datasets


def _lineage_decision(result: NodeResult):
    """The node's decision with its whole column lineage; the sources a mask touched flagged as masked."""
    decision = result.decision
    edges = {target: {source: subtype for source, (subtype, _) in sources.items()} for target, sources in result.lineage.items()}
    masked: dict[str, MaskedColumn] = {}
    for sources in result.lineage.values():
        for source, (_, is_masked) in sources.items():
            if is_masked:
                table, _, column = source.rpartition(".")
                masked.setdefault(source, MaskedColumn(table, column, (), "masked by lineage_governance"))
    facts = replace(decision.facts, lineage=Lineage(edges))
    effective = Action.MASK if masked and decision.effective_action.may_run else decision.effective_action
    return replace(decision, facts=facts, masked_columns=tuple(masked.values()), effective_action=effective)


def _without_literals(decision):
    """Finding messages may quote the statement (a parse error does): no literal value goes to Marquez."""
    from lineage.disclosure import shown_findings

    return replace(decision, findings=shown_findings(decision)) if decision.findings else decision
