"""A throwaway Airflow 3 home for tests and benchmarks.

    home = AirflowHome.create(tmp, dags=[Path("dags_examples/governed_pipeline.py")],
                              settings={"policy_file": "policy.yaml", "environment": "prod"})
    home.activate()                     # sets AIRFLOW_* in os.environ, creates the SQLite metadata DB
    run = home.test("governed_pipeline")   # dag.test(): every task in this process

Airflow reads its configuration when it is first imported, so ``activate`` must come before
anything imports ``airflow`` in the process (it refuses to run otherwise). The OpenLineage
provider writes its events to ``openlineage.jsonl`` (file transport) and runs its listener
in a thread (``execute_in_thread``) rather than a fork, which suits a test process.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

FACETS_FUNCTION = "airflow_plugin.facets.run_facets"


@dataclass
class AirflowHome:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def dags(self) -> Path:
        return self.root / "dags"

    @property
    def openlineage_file(self) -> Path:
        """The OpenLineage provider's events (its file transport)."""
        return self.root / "openlineage.jsonl"

    @property
    def events_file(self) -> Path:
        """The plugin's own events, written synchronously ([lineage_governance] events_file)."""
        return self.root / "lineage-events.jsonl"

    @property
    def spooled_file(self) -> Path:
        """Where the plugin's spool delivers (openlineage-python's file transport)."""
        return self.root / "spooled.jsonl"

    @classmethod
    def create(
        cls,
        root: Path,
        dags: Iterable[Path] = (),
        settings: Mapping[str, Any] | None = None,
        openlineage: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> "AirflowHome":
        root = Path(root).resolve()
        (root / "dags").mkdir(parents=True, exist_ok=True)
        for path in dags:
            path = Path(path)
            if path.is_dir():  # a folder the DAGs read (SQL files)
                shutil.copytree(path, root / "dags" / path.name, dirs_exist_ok=True)
            else:
                shutil.copy(path, root / "dags" / path.name)
        env = {
            "AIRFLOW_HOME": str(root),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(root / "logs"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        }
        env.update(
            {
                "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_FILE": str(root / "lineage-events.jsonl"),
                "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_SPOOL": str(root / "events-spool.db"),
                # the spool's way out: an openlineage-python file transport
                "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_TRANSPORT": json.dumps({"type": "file", "log_file_path": str(root / "spooled.jsonl"), "append": True}),
            }
        )
        if openlineage:
            env.update(
                {
                    "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(root / "openlineage.jsonl"), "append": True}),
                    "AIRFLOW__OPENLINEAGE__NAMESPACE": "airflow-test",
                    "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
                    "AIRFLOW__OPENLINEAGE__CUSTOM_RUN_FACETS": FACETS_FUNCTION,
                }
            )
        else:
            env["AIRFLOW__OPENLINEAGE__DISABLED"] = "True"
        for key, value in (settings or {}).items():
            env[f"AIRFLOW__LINEAGE_GOVERNANCE__{key.upper()}"] = str(value)
        env.update(extra_env or {})
        return cls(root, env)

    def activate(self, init_db: bool = True) -> "AirflowHome":
        loaded = sys.modules.get("airflow.configuration")
        if loaded is not None and os.path.realpath(getattr(loaded, "AIRFLOW_HOME", "")) != os.path.realpath(self.env["AIRFLOW_HOME"]):
            raise RuntimeError(
                "airflow was imported before the test home was activated (it read another AIRFLOW_HOME); "
                "activate the home before importing airflow"
            )
        os.environ.update(self.env)
        if init_db:
            from airflow.utils.db import initdb

            initdb()
        return self

    def connection(self, conn_id: str, **fields: Any) -> None:
        """An Airflow connection from the environment (``AIRFLOW_CONN_<ID>`` as JSON)."""
        value = json.dumps({key: val for key, val in fields.items() if val is not None})
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        self.env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value

    def dag(self, dag_id: str):
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(str(self.dags))
        if dag_id not in bag.dags:
            raise KeyError(f"DAG {dag_id!r} not found in {self.dags} (import errors: {bag.import_errors})")
        return bag.dags[dag_id]

    def test(self, dag_id: str, **kwargs: Any):
        """Run the DAG with ``dag.test()`` (all tasks in this process); returns the DagRun."""
        return self.dag(dag_id).test(**kwargs)

    def task_states(self, dag_run) -> dict[str, str]:
        return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}

    def xcom(self, dag_run, task_id: str, key: str = "return_value"):

        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
            row = session.scalars(query).first()
            return XComModel.deserialize_value(row) if row is not None else None

    def openlineage_events(self) -> list[dict[str, Any]]:
        """The provider's events."""
        return _jsonl(self.openlineage_file)

    def plugin_events(self) -> list[dict[str, Any]]:
        """The plugin's events (statement runs, and task runs without the provider)."""
        return _jsonl(self.events_file)

    def spooled_events(self) -> list[dict[str, Any]]:
        return _jsonl(self.spooled_file)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
