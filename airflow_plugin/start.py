"""Task start: load the governance (a bad policy fails the task here) and pre-check SQL operators.

Listener errors are swallowed by Airflow's task runner, so the listener does not fail anything
itself: it wraps the running task's ``pre_execute``, which the task runner calls inside
``_execute_task`` (the same path that runs ``execute``), so what it raises fails the task:

    on_task_instance_running (listener) -> task.pre_execute = guarded
    _execute_task -> guarded(context) -> begin(): policy error -> AirflowFailException (no retries)
                                        SQL operator: every statement decided before the first runs
                                        -> execute()

For an operator whose SQL is known before it runs (``SQLExecuteQueryOperator`` and other
common-sql operators: ``sql`` plus ``get_db_hook()``), a blocked statement or one waiting for
approval stops the task before any of its statements ran.
"""

from __future__ import annotations

import logging
from typing import Any

from lineage.model import Action

log = logging.getLogger("airflow.task.lineage_governance")

GUARD_MARK = "_lineage_governance_guarded"


def guard(task: Any) -> None:
    """Wrap ``task.pre_execute`` (the prepared copy the task runner executes) and ``task.on_kill``
    (what the task runner's SIGTERM handler calls: JIT roles are dropped then); idempotent."""
    if getattr(task, GUARD_MARK, False):
        return
    original = task.pre_execute
    original_kill = task.on_kill

    def pre_execute(context, *args, **kwargs):
        from airflow_plugin.refusal import is_refusal, without_internals

        try:
            begin(context, task)
        except Exception as error:
            if is_refusal(error):  # the task log shows the refusal, not the plugin's frames
                raise without_internals(error) from None
            raise
        return original(context, *args, **kwargs)

    def on_kill(*args, **kwargs):
        from airflow_plugin.jit import terminated

        try:
            terminated()
        except Exception:
            log.exception("lineage-governance: could not drop the task's JIT roles on kill")
        return original_kill(*args, **kwargs)

    task.pre_execute = pre_execute
    task.on_kill = on_kill
    setattr(task, GUARD_MARK, True)


def begin(context, task: Any):
    """Start governing this task try; raises AirflowFailException when it cannot be governed."""
    from airflow_plugin.intercept import install
    from airflow_plugin.failures import GovernanceConfigError, fail
    from airflow_plugin.runtime import start

    install()
    try:
        governance = start(context)
    except GovernanceConfigError as error:
        raise fail(str(error)) from None
    if governance is None:
        log.info("lineage-governance is disabled ([lineage_governance] enabled = False): SQL runs ungoverned")
        return None
    log.info(
        "lineage-governance: principal %s (%s), environment %s, policy %s (%s), run id %s",
        governance.identity.principal, governance.identity.attributes.get("principal_rule"),
        governance.identity.environment, governance.runtime.policy.version[:19], governance.runtime.policy.mode,
        governance.identity.run_id,
    )
    precheck(governance, task)
    return governance


def precheck(governance, task: Any) -> None:
    """Decide a SQL operator's statements up front; refuse or wait before the first one runs."""
    sql = getattr(task, "sql", None)
    get_hook = getattr(task, "get_db_hook", None)
    if not sql or get_hook is None or not isinstance(sql, (str, list, tuple)):
        return
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    hook = get_hook()
    if not isinstance(hook, DbApiHook):
        return
    text = sql if isinstance(sql, str) else ";\n".join(sql)
    binding = governance.binding(hook)
    approvals = governance.runtime.approvals
    decisions = binding.governor.decide(text, binding.identity, binding.target.dialect)
    for decision in decisions:
        if decision.effective_action in (Action.BLOCK, Action.REQUIRE_APPROVAL):
            binding.governor.admit(decision, binding.identity, binding.context)  # raises the refusal; runs nothing
    from airflow_plugin import jit

    if jit.applies(governance, binding.target):
        jit.grant(governance, hook, binding, approvals.grantable(decisions, binding.identity))
