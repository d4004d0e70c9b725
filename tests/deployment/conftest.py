"""A real Airflow 3 deployment per executor, shared by the tests of one module.

One PostgreSQL 15 server holds everything a deployment keeps: Airflow's metadata database (a
copy of one migrated template, so ``airflow db migrate`` runs once per session), the ledger and
approvals store (one database, as the README's Deploy section says), and the warehouse the DAGs
write (the example DAGs' ``warehouse`` connection). One Marquez-contract server is the lineage
backend of every process. The plugin is configured only through ``plugin_environment``,
``api_server_environment`` (the UI's signing key, for the API server alone) and
``worker_environment`` (testkit.airflow_deployment), which are what the README's Deploy section
shows. Nothing here imports Airflow: the test process only talks to the deployment
(REST API, the plugin's API, the databases), as a user or a CI system would.

On a failure the report gets a section with every component's log tail and the newest task logs;
the whole deployment directory (logs included) is kept, and the report names it.
"""

from __future__ import annotations

import pytest

from .deployment_helpers import Deployed, create_database, metadata_url
from testkit.airflow_deployment import AirflowDeployment


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Deployed):
                value.failed = True
                report.sections.append((f"deployment ({value.deployment.executor})", value.deployment.describe()))


@pytest.fixture(scope="session")
def deployment_postgres():
    """The deployments' own PostgreSQL (no statement log: Airflow's metadata traffic is heavy)."""
    from testkit.postgres import ThrowawayPostgres

    server = ThrowawayPostgres(settings={"max_connections": "500"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lineage_backend():
    """The lineage backend of every process, checking every event as Marquez does (the provider's
    stock events pass as they pass Marquez; the plugin's own are held to the full contract); the
    tests assert that it refused none."""
    from lineage.deliver.marquez.server import MarquezServer

    server = MarquezServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def metadata_template(deployment_postgres, tmp_path_factory) -> str:
    """Airflow's metadata schema, migrated once; each deployment gets a copy."""
    create_database(deployment_postgres, "airflow_template")
    root = tmp_path_factory.mktemp("airflow-migrate")
    AirflowDeployment(root, metadata_url=metadata_url(deployment_postgres, "airflow_template")).run_cli(["db", "migrate"], timeout=600)
    return "airflow_template"


