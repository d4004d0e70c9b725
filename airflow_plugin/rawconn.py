"""Raw connections from ``hook.get_conn()`` in task code, governed through ``lineage.dbapi``.

    conn = PostgresHook("warehouse").get_conn()     # inside a task
    conn.cursor().execute("select email from crm.customers")   # checked, masked, stamped, recorded

The DB-API wrapper is the ledger issue's (one path for every DB-API connection); this module
only binds it to the task's identity and the connection's governor.
"""

from __future__ import annotations


def governed_connection(governance, hook, connection):
    try:
        from lineage.dbapi import wrap
    except ImportError:
        from airflow_plugin.runtime import _fail

        connection.close()
        raise _fail(
            "lineage-governance: a raw connection from hook.get_conn() cannot be governed without lineage.dbapi; "
            "use the hook's run/get_records/get_df, or install a version with the DB-API wrapper"
        ) from None
    binding = governance.binding(hook)
    return wrap(connection, binding.governor, binding.identity, binding.context)
