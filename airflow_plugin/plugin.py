"""The Airflow plugin: registered through the ``airflow.plugins`` entry point.

Importing this module is cheap (Airflow imports plugins in every process): the listener module
imports nothing heavy at module level, and the UI's FastAPI app is built only when the API
server asks for ``fastapi_apps``.
"""

from __future__ import annotations

try:
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - Airflow without the task SDK layout
    from airflow.plugins_manager import AirflowPlugin

from airflow_plugin import listener

URL_PREFIX = "/lineage-governance"


class LineageGovernancePlugin(AirflowPlugin):
    name = "lineage_governance"
    listeners = [listener]
    # the menu entry (Browse), and tabs on a DAG run and a task instance filtered to them
    external_views = [
        {
            "name": "Lineage governance",
            "href": URL_PREFIX + "/",
            "destination": "nav",
            "category": "browse",
            "url_route": "lineage-governance",
        },
        {
            "name": "Governance",
            "href": URL_PREFIX + "/?dag_id={DAG_ID}&dag_run_id={RUN_ID}",
            "destination": "dag_run",
            "url_route": "lineage-governance-run",
        },
        {
            "name": "Governance",
            "href": URL_PREFIX + "/?dag_id={DAG_ID}&dag_run_id={RUN_ID}&task_id={TASK_ID}",
            "destination": "task_instance",
            "url_route": "lineage-governance-task",
        },
    ]

    @property
    def fastapi_apps(self):  # type: ignore[override]
        from airflow_plugin.ui import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Lineage governance"}]
