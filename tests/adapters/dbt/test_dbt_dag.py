"""The example Airflow DAG that runs the dbt project through ``lineage dbt build`` parses in a
real DagBag (Airflow 3, in its own process and home), and hands dbt the task's OpenLineage run
through the OpenLineage provider's macros."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow]

ROOT = Path(__file__).resolve().parents[3]
DAG = ROOT / "dags_examples" / "governed_shop_dbt.py"
CHECK = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.openlineage.plugins import macros

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("governed_shop_dbt")
task = dag.get_task("dbt_build") if dag else None
print(json.dumps({
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "bash_command": getattr(task, "bash_command", None),
    "env": getattr(task, "env", None),
    "cwd": getattr(task, "cwd", None),
    "macros": sorted(name for name in dir(macros) if name.startswith("lineage_")),
}))
"""


def test_the_dbt_dag_parses_in_a_real_dagbag_and_passes_the_openlineage_parent(tmp_path):
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(DAG.parent))
    result = subprocess.run([sys.executable, "-c", CHECK, str(DAG)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {} and parsed["dags"] == ["governed_shop_dbt"]
    command = parsed["bash_command"]
    assert " dbt --policy " in command and command.endswith(f"{ROOT / 'dags_examples' / 'dbt_project' / 'policy.yaml'} build")
    assert Path(parsed["cwd"]) == ROOT / "dags_examples" / "dbt_project"
    environment = parsed["env"]
    assert environment["OPENLINEAGE_PARENT_ID"] == "{{ macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance) }}"
    assert environment["OPENLINEAGE_ROOT_PARENT_ID"] == "{{ macros.OpenLineageProviderPlugin.lineage_root_parent_id(task_instance) }}"
    assert {"lineage_parent_id", "lineage_root_parent_id"} <= set(parsed["macros"])
    assert environment["LINEAGE_PRINCIPAL"] == "svc:dbt"
