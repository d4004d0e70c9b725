"""Our facets on the OpenLineage provider's task events (one line of configuration):

    [openlineage]
    custom_run_facets = airflow_plugin.facets.run_facets

    (or AIRFLOW__OPENLINEAGE__CUSTOM_RUN_FACETS=airflow_plugin.facets.run_facets)

The provider calls ``run_facets(task_instance, state)`` for the task's START, COMPLETE and FAIL
events and merges what it returns into the run facets:

- ``lineageGovernance_identity``: the accountable principal, groups, environment and the Airflow
  attributes (dag_id, task_id, try_number, triggering user, ...), on every event;
- ``lineageGovernance_decision``: on COMPLETE and FAIL, the task's statements summed up: the
  strictest action and effective action, the findings that mattered (warn and up), the masked
  columns, the policy version and mode, the outcome (the task's state).

Each governed statement is also its own run (job ``{dag_id}.{task_id}.query.{n}``) whose parent
is this task run: the provider's run id is the identity's run id (``airflow_plugin.identity``).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

log = logging.getLogger("airflow.task.lineage_governance")


def run_facets(task_instance: Any, ti_state: Any) -> dict:
    try:
        from lineage.deliver.build import identity_facet

        from airflow_plugin.identity import task_instance_identity
        from airflow_plugin.runtime import governance_of, runtime

        current = runtime()
        if current is None:
            return {}
        identity = task_instance_identity(task_instance, current.policy, current.settings.environment)
        governance = governance_of(identity.run_id)
        facets: dict[str, Any] = {"lineageGovernance_identity": identity_facet(identity)}
        if governance is not None and governance.decisions:
            facets["lineageGovernance_decision"] = task_decision_facet(governance.decisions, _state(ti_state))
        return facets
    except Exception:  # the provider must still emit its event
        log.warning("lineage-governance: no governance facets for this event", exc_info=True)
        return {}


def task_decision_facet(decisions: Iterable, outcome: str | None = None):
    """One decision facet for a whole task: the strictest of its statements' decisions."""
    from lineage.disclosure import shown_findings
    from lineage.deliver.facets import PRODUCER, GovernanceFinding, LineageGovernanceDecisionRunFacet
    from lineage.model import Action

    decisions = list(decisions)
    findings: dict[tuple, GovernanceFinding] = {}
    masked: list[str] = []
    for decision in decisions:
        for finding in shown_findings(decision):
            action = finding.action or finding.default_action or Action.ALLOW
            if action.rank >= Action.WARN.rank:
                findings.setdefault((finding.rule, action.value, finding.object), GovernanceFinding(
                    rule=finding.rule, action=action.value, message=finding.message, object=finding.object))
        for column in decision.masked_columns:
            if column.qualified not in masked:
                masked.append(column.qualified)
    return LineageGovernanceDecisionRunFacet(
        action=Action.strictest(d.action for d in decisions).value,
        effectiveAction=Action.strictest(d.effective_action for d in decisions).value,
        mode=decisions[0].mode,
        policyVersion=decisions[0].policy_version,
        findings=list(findings.values()),
        outcome=outcome,
        maskedColumns=masked,
        producer=PRODUCER,
    )


OUTCOMES = {"running": "started", "success": "completed", "failed": "failed", "skipped": "completed", "up_for_retry": "failed"}


def _state(ti_state: Any) -> str | None:
    """The task's state as the decision facet's outcome (started, completed, failed)."""
    if ti_state is None:
        return None
    return OUTCOMES.get(str(getattr(ti_state, "value", ti_state)).lower())
