"""Raw connections from ``hook.get_conn()`` in task code, governed through ``lineage.adapters.dbapi``.

    conn = PostgresHook("warehouse").get_conn()                # inside a task
    conn.cursor().execute("select email from crm.customers")   # checked, masked, stamped, recorded

The DB-API wrapper is ``lineage.adapters.dbapi``'s (one path for every DB-API connection: execute,
executemany, DuckDB's sql/query, the driver methods that would bypass it refused); this module
binds it to the task: its identity, the connection's engine, and the task's way of carrying
out a refusal (the governor's ``refusals``: AirflowFailException, or a reschedule while an
approval is pending).
"""

from __future__ import annotations


def governed_connection(governance, hook, connection):
    from lineage.adapters.dbapi import GovernedConnection

    binding = governance.binding(hook)
    driver = type(connection).__module__.split(".")[0].lstrip("_")
    return GovernedConnection(connection, binding.governor, binding.identity, binding.context, driver)
