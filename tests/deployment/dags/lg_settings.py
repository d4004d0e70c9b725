"""What a task's own code sees of the plugin's settings: the test checks that the UI's signing key
is not among them (pipeline code that held it could sign its own approval)."""
import datetime

from airflow.sdk import DAG, task

with DAG("lg_settings", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, default_args={"owner": "data-eng"}):

    @task
    def visible_settings() -> dict:
        import os

        from airflow_plugin.settings import load_settings

        settings = load_settings()
        return {
            "approvals_signing_key": settings.approvals_signing_key,
            "variables": sorted(key for key in os.environ if key.endswith("APPROVALS_SIGNING_KEY")),
            "policy_file": settings.policy_file,  # the settings every process has: the task does read them
        }

    visible_settings()
