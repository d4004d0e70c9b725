"""lineage-governance for Airflow 3: every SQL statement of every task through the governor.

    plugin.py      the AirflowPlugin (entry point ``airflow.plugins``): listener, API app, menu entry
    listener.py    arms each task at start (interception + the task-start guard), closes it at the end
    preload.py     the governance core loaded once in the scheduler, for the task processes it forks
    start.py       the guard around ``pre_execute``: a bad policy fails the task; SQL operators pre-checked
    intercept.py   DbApiHook interception (_run_command, get_conn, SQLAlchemy engines, application_name)
    rawconn.py     raw ``hook.get_conn()`` connections through ``lineage.adapters.dbapi``
    runtime.py     settings + policy + engines + governors for the running task
    catalog.py     the catalog a connection is analysed against (none, a JSON file, read live)
    scopes.py      context variables: inside a governed call, provider lookups, standing credentials
    failures.py    how the plugin stops a task: fail(), reschedule_at(), GovernanceConfigError
    jit.py         just-in-time PostgreSQL roles for the task try (dropped when it finishes)
    connections.py a hook's connection as dialect, dataset namespace and database
    identity.py    RunIdentity from the task context, with the OpenLineage provider's run id
    approvals.py   one request per held statement and task try; waiting by rescheduling; webhooks
    facets.py      our facets on the OpenLineage provider's task events (custom_run_facets)
    events.py      task-level events when the provider is absent
    ui.py          the FastAPI app: approvals, ledger, policy
    settings.py    the ``[lineage_governance]`` configuration section
    refusal.py     a refused statement in the task log (rule, statement, what to do) and its exception

Importing this package (Airflow does, in every process) imports nothing heavy.
"""
