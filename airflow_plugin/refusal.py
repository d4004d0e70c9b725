"""A refused statement in the task log: the rule, the statement and what to do come first.

    lineage-governance BLOCKED a statement of task lg_block.drop_orders (environment prod); it did not run
      rule:       drop_table (block): drops table warehouse.raw.orders
      statement:  drop table raw.orders  (statement 2 of the SQL sent)
      what to do: change the statement, or ask the policy's owners to allow it: guardrails, rule drop_table,
                  in /etc/lineage/policy.yaml (version sha256:1f2e3d4c5b6a)

Airflow logs a failed task's exception with its whole traceback after it; ``failure`` is that
exception (``AirflowFailException``, no retries), marked so that the plugin's outermost frame
re-raises it without the frames of the plugin's internals (``without_internals``).
Statements and finding texts show each literal as ``?`` (``lineage.disclosure``): task logs are
widely read.
"""

from __future__ import annotations

import logging

from lineage.disclosure import shown_findings, shown_statement
from lineage.model import Action, Decision

log = logging.getLogger("airflow.task.lineage_governance")

MARK = "_lineage_governance_refusal"
MAX_STATEMENT = 300


def task_log_message(decision: Decision, identity, policy_file: str | None) -> str:
    findings = shown_findings(decision)
    relevant = [f for f in findings if f.action == decision.action] or list(findings)
    attributes = identity.attributes or {}
    task = ".".join(str(part) for part in (attributes.get("dag_id"), attributes.get("task_id")) if part) or identity.job_name
    what = "BLOCKED" if decision.action == Action.BLOCK else "HELD FOR APPROVAL"
    statement = " ".join(shown_statement(decision).split())
    if len(statement) > MAX_STATEMENT:
        statement = statement[: MAX_STATEMENT - 3] + "..."
    rules = sorted({f.rule for f in relevant})
    lines = [f"lineage-governance {what} a statement of task {task} (environment {identity.environment}); it did not run"]
    for index, finding in enumerate(relevant):
        action = finding.action.value if finding.action is not None else decision.action.value
        lines.append(f"  {'rule:' if index == 0 else '':<12}{finding.rule} ({action}): {finding.message}")
    lines.append(f"  {'statement:':<12}{statement}  (statement {decision.index + 1} of the SQL sent)")
    where = f"in {policy_file} " if policy_file else ""
    if decision.action == Action.BLOCK:
        advice = (f"change the statement, or ask the policy's owners to allow it: {', '.join(rules) or 'its rule'} "
                  f"{where}(version {decision.policy_version[:19]})")
    else:
        advice = "an approver named in the policy approves it (`lineage approvals approve <request id>` or the Governance page); the task then runs it"
    lines.append(f"  {'what to do:':<12}{advice}")
    return "\n".join(lines)


def failure(message: str) -> BaseException:
    """The exception that fails the task (no retries), marked as the plugin's own refusal."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # pragma: no cover
        from airflow.exceptions import AirflowFailException
    error = AirflowFailException(message)
    setattr(error, MARK, True)
    return error


def is_refusal(error: BaseException) -> bool:
    return bool(getattr(error, MARK, False))


def without_internals(error: BaseException) -> BaseException:
    """The refusal with a traceback that starts at the frame re-raising it (the plugin's outermost)."""
    return error.with_traceback(None)
