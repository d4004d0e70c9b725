"""Raw connections from ``hook.get_conn()`` in task code, governed through ``lineage.adapters.dbapi``.

    conn = PostgresHook("warehouse").get_conn()                # inside a task
    conn.cursor().execute("select email from crm.customers")   # checked, masked, stamped, recorded

The DB-API wrapper is ``lineage.adapters.dbapi``'s (one path for every DB-API connection: execute,
executemany, DuckDB's sql/query, the driver methods that would bypass it refused); this module
binds it to the task: its identity, the connection's engine, and the task's way of carrying
out a refusal (AirflowFailException, or a reschedule while an approval is pending).
"""

from __future__ import annotations

from typing import Any, Callable


class TaskGovernor:
    """What ``lineage.adapters.dbapi`` asks of a Governor, answered by the running task's governance."""

    def __init__(self, governance, binding):
        self._governance = governance
        self._binding = binding

    @property
    def engine(self):
        return self._binding.engine

    @property
    def ledger(self):
        return self._binding.governor.ledger

    def decide(self, sql: str, identity, dialect: str | None = None):
        return self._binding.governor.decide(sql, identity, dialect)

    def execute_decision(self, decision, identity, run: Callable[[str], Any], context, rowcount=None):
        return self._governance.execute_decision(self._binding, decision, run, rowcount)


def governed_connection(governance, hook, connection):
    from lineage.adapters.dbapi import GovernedConnection

    binding = governance.binding(hook)
    driver = type(connection).__module__.split(".")[0].lstrip("_")
    return GovernedConnection(connection, TaskGovernor(governance, binding), binding.identity, binding.context, driver)
