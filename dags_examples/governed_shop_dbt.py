"""The example dbt project (dags_examples/dbt_project) built from Airflow through ``lineage dbt build``.

    dbt_build   BashOperator  dbt deps && lineage dbt --policy dags_examples/dbt_project/policy.yaml build
                              pre-flight before anything runs (exit 1 blocked, exit 3 awaiting
                              approval: the task fails and says which request to approve), then
                              dbt with masked reads, every statement in the ledger, and one
                              OpenLineage run per model under this task's run

The task hands its OpenLineage run to dbt through the Airflow OpenLineage provider's macros
(``OPENLINEAGE_PARENT_ID`` / ``OPENLINEAGE_ROOT_PARENT_ID``), so Marquez shows
DAG -> task -> dbt invocation -> model. The warehouse is DuckDB by default (a file inside the
project directory); set ``GOVERNED_SHOP_TARGET=postgres`` and ``GOVERNED_SHOP_PG*`` on the worker
for PostgreSQL. The identity is the worker's ``LINEAGE_PRINCIPAL`` (``svc:dbt`` here).
"""

from __future__ import annotations

import datetime
import shutil
import sys
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "dbt_project"
POLICY = PROJECT / "policy.yaml"
LINEAGE = shutil.which("lineage") or str(Path(sys.executable).with_name("lineage"))
DBT = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
OPENLINEAGE = "macros.OpenLineageProviderPlugin"

with DAG(
    "governed_shop_dbt",
    schedule="@daily",
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "analytics-eng", "retries": 0},
    tags=["lineage-governance", "dbt", "example"],
):
    BashOperator(
        task_id="dbt_build",
        cwd=str(PROJECT),
        # dbt deps links the lineage_governance package (packages.yml: local path)
        bash_command=f"{DBT} deps --quiet && {LINEAGE} dbt --policy {POLICY} build",
        env={
            "OPENLINEAGE_PARENT_ID": "{{ " + OPENLINEAGE + ".lineage_parent_id(task_instance) }}",
            "OPENLINEAGE_ROOT_PARENT_ID": "{{ " + OPENLINEAGE + ".lineage_root_parent_id(task_instance) }}",
            "LINEAGE_PRINCIPAL": "svc:dbt",
            "LINEAGE_ENV": "prod",
            "DBT_PROFILES_DIR": str(PROJECT),
            "LINEAGE_DBT_MACROS": str(HERE.parent / "dbt_macros"),
        },
        append_env=True,
    )
