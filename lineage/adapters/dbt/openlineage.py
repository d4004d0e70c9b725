"""OpenLineage for a dbt invocation: one run for the invocation, one per node under it.

    Airflow task run                       (OPENLINEAGE_PARENT_ID / _ROOT_PARENT_ID / OPENLINEAGE_CONTEXT)
      └─ dbt.governed_shop.build           the invocation: START when dbt starts, COMPLETE/FAIL at its end;
         │                                 its run id is the run_id of every query comment and ledger record
         └─ dbt.model.governed_shop.stg_customers     START / COMPLETE (or FAIL) per node:
                 inputs and outputs with dataSource, schema, classifications (carried through the DAG),
                 columnLineage from the pre-flight's analysis (through select * and dbt-duckdb's
                 parenthesised DDL), masked columns flagged; lineageGovernance_identity and _decision,
                 and dbt_run (the dbt invocation_id)

Which columns were read masked (columnLineage ``masking``, the inputs' lineageGovernance_masking,
the decision's maskedColumns) is what the SQL says: at START the masks the run's plan has the
macros render into the node's SQL, at COMPLETE/FAIL the masks in the statements the node sent
(``lineage.adapters.dbt.masks``: the markers every rendered mask carries).

Built with the events package (``lineage.deliver.build.job_event``, ``statement_datasets``); the
runner sends them through the events emitter (the durable spool, a JSONL file, or both).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import attr
import sqlglot
from openlineage.client.event_v2 import RunState
from openlineage.client.facet_v2 import RunFacet
from sqlglot.errors import ParseError, TokenError

from lineage.decide.classify import ClassificationEntry
from lineage.adapters.dbt.masks import MASK_FUNCTION, masks_of
from lineage.adapters.dbt.preflight import WILDCARD, NodeResult, PreflightReport
from lineage.deliver.build import decision_facet, job_event
from lineage.deliver.datasets import statement_datasets
from lineage.deliver.facets import PRODUCER
from lineage.identity.run_identity import RunIdentity, new_run_id
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
    report: PreflightReport | None
    engine: Any
    where: Any
    invocation_id: str | None
    project: str | None = None
    plan: dict | None = None  # the macros' plan (``lineage.adapters.dbt.plan``): the masks governed reads render
    ran: dict[str, tuple[MaskedColumn, ...]] = field(default_factory=dict)  # node id -> masks in the SQL it sent
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

    def tags_of(self, table: str, column: str) -> tuple[str, ...]:
        classifier = self.classifier()
        return classifier.tags(table, column) if classifier is not None else ()


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
    masks = planned_masks(result, context) if state == "START" else context.ran.get(node_id, ())
    inputs, outputs = node_datasets(result, context, masks) if result is not None else ([], [])
    facets: dict = {}
    if context.invocation_id:
        facets["dbt_run"] = DbtRunRunFacet(invocation_id=context.invocation_id, project_name=context.project, producer=PRODUCER)
    if result is not None and context.report is not None:
        decision = context.report.decision_for(result)
        if decision is not None:
            decision = _without_literals(_with_masks(decision, masks))
            outcome = {"START": "started", "COMPLETE": "completed"}.get(state, "failed")
            facets["lineageGovernance_decision"] = decision_facet(decision, outcome)
    return job_event(
        RunState(state), identity,
        job_type=JOB_TYPES.get(str(resource_type).lower(), "MODEL"), integration="DBT",
        inputs=inputs, outputs=outputs, error=error, run_facets=facets, programming_language="SQL",
    )


def planned_masks(result: NodeResult | None, context: NodeContext) -> tuple[MaskedColumn, ...]:
    """The masks the node's SQL will hold: its ``mask()`` calls, and the plan's masks of the
    relations it reads governed (none in audit mode), read from the pre-flight's analysis."""
    if result is None or not result.statement or context.engine is None:
        return ()
    key = ("planned", result.node.unique_id)
    if key not in context._datasets:
        relations = (context.plan or {}).get("relations", {})
        derived = {relation: {column.lower(): (mask["strategy"], mask.get("tag") or "") for column, mask in relations.get(relation, {}).get("masks", {}).items()}
                   for relation in result.governed}
        if not any(derived.values()) and MASK_FUNCTION not in result.statement.lower():
            # no plan mask and no mask() call: nothing to find (the pre-flight's own text test, so
            # most nodes' START events need no parse of their SQL)
            context._datasets[key] = ()
        else:
            context._datasets[key] = statement_masks(result.statement, derived, context)
    return context._datasets[key]


def statement_masks(sql: str, derived: dict, context: NodeContext) -> tuple[MaskedColumn, ...]:
    engine = context.engine
    try:
        tree = sqlglot.parse_one(sql, read=engine.dialect)
    except (ParseError, TokenError):
        return ()
    if tree is None:
        return ()
    return masks_of(tree, derived, engine.dialect, lambda text: next(iter(engine.analyze(text)), None), context.tags_of)


def node_datasets(result: NodeResult, context: NodeContext, masks: tuple[MaskedColumn, ...] = ()):
    """The node's inputs and outputs, the columns in ``masks`` read masked."""
    key = (result.node.unique_id, masks)
    cached = context._datasets.get(key)
    if cached is not None:
        return cached
    if result.decision is None or context.where is None:
        datasets = ([], [])
    else:
        datasets = statement_datasets(_lineage_decision(result, masks), context.where, context.engine.catalog if context.engine else None, context.classifier())
    context._datasets[key] = datasets
    return datasets


def _lineage_decision(result: NodeResult, masks: tuple[MaskedColumn, ...]):
    """The node's decision with its whole column lineage and exactly these masked columns (not
    the engine's action on the SQL with the masks taken out, which may refuse what the masks make safe)."""
    decision = result.decision
    edges = {target: {source: subtype for source, (subtype, _) in sources.items()} for target, sources in result.lineage.items()}
    return replace(decision, facts=replace(decision.facts, lineage=Lineage(edges)), masked_columns=tuple(masks),
                   action=Action.MASK if masks else Action.ALLOW, effective_action=Action.MASK if masks else Action.ALLOW)


def _with_masks(decision, masks: tuple[MaskedColumn, ...]):
    """The node's decision naming the masks its SQL holds: a node that ran with masks ran masked."""
    if not masks:
        return replace(decision, masked_columns=())
    action = decision.action if decision.action.rank >= Action.MASK.rank else Action.MASK
    effective = decision.effective_action if decision.effective_action.rank >= Action.MASK.rank else Action.MASK
    return replace(decision, masked_columns=tuple(masks), action=action, effective_action=effective)


def _without_literals(decision):
    """Finding messages may quote the statement (a parse error does): no literal value goes to Marquez."""
    from lineage.disclosure import shown_findings

    return replace(decision, findings=shown_findings(decision)) if decision.findings else decision
