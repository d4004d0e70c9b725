"""The governance core loaded once in the scheduler, for the task processes it forks.

With LocalExecutor every task process is forked from the scheduler's executor workers: what the
scheduler has imported, each task process has for free. Without this, each task process imports
the plugin's modules, sqlglot, the rules and the OpenLineage client, and parses the policy, before
its first statement (about a second per task on a busy 2-core machine; see
bench/bench_airflow_deployment.py). The scheduler loads them once when it starts
(``on_starting``); with another executor the cost is the same one-off, and the tasks do not
change. The triggerer and the DAG processor load nothing.

    preload()  ->  True   (the modules are imported, the policy parsed and cached by runtime())
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def preload() -> bool:
    from airflow_plugin.settings import SettingsError, load_settings

    try:
        if not load_settings().enabled:
            return False
    except SettingsError:
        return False  # each task fails at its start with the settings error
    import airflow_plugin.approvals  # noqa: F401
    import airflow_plugin.facets  # noqa: F401
    import airflow_plugin.intercept  # noqa: F401
    import airflow_plugin.rawconn  # noqa: F401
    import airflow_plugin.start  # noqa: F401
    import lineage.deliver.governance  # noqa: F401
    import lineage.deliver.spool  # noqa: F401
    import lineage.deliver.transport  # noqa: F401
    import lineage.record.postgres  # noqa: F401
    # the client and its transports, which lineage otherwise loads only when something sends
    # (lineage/openlineage_client.py): every task's spool sender sends, so load them once here
    from openlineage.client import OpenLineageClient  # noqa: F401
    from openlineage.client.transport.http import HttpTransport  # noqa: F401
    from airflow_plugin.failures import GovernanceConfigError
    from airflow_plugin.runtime import runtime
    from lineage.decide.catalog import Catalog
    from lineage.decide.engine import Engine
    from lineage.identity.run_identity import RunIdentity

    try:
        current = runtime()  # the policy, parsed once; a task process re-reads it only if the file changed
    except GovernanceConfigError:
        return False  # each task fails at its start with the policy error
    if current is None:
        return False
    # one throwaway decision imports the analysis, the rules and the masking the tasks will use
    Engine(current.policy, Catalog(dialect="postgres"), dialect="postgres").check("select 1", RunIdentity(principal="preload"))
    return True
