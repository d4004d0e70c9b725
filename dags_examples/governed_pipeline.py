"""The example pipeline, governed by lineage-governance without a line of governance in it.

    seed             SQLExecuteQueryOperator  synthetic PII into raw.customers and raw.orders
    customer_orders  SQLExecuteQueryOperator  mart.customer_orders from raw.customers: the email
                                              column is masked for the run's identity
    city_report      @task with a DuckDBHook or PostgresHook: reads the mart and raw.customers
                     directly (masked as well)
    drop_legacy_code SQLExecuteQueryOperator  ALTER TABLE raw.customers DROP COLUMN legacy_code:
                                              held until an approver in data-owners approves it

The warehouse is the Airflow connection ``warehouse``: DuckDB by default
(``AIRFLOW_CONN_WAREHOUSE='{"conn_type": "duckdb", "host": "/tmp/warehouse.duckdb"}'``), or
PostgreSQL (``{"conn_type": "postgres", "host": ..., "schema": "<database>", ...}``); the SQL
runs on both. The plugin's settings name dags_examples/policy.yaml.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, task

SQL = Path(__file__).parent / "sql"

with DAG(
    "governed_pipeline",
    schedule="@daily",
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "data-eng"},
    template_searchpath=[str(SQL)],
    tags=["lineage-governance", "example"],
):
    seed = SQLExecuteQueryOperator(task_id="seed", conn_id="warehouse", sql="seed.sql", split_statements=True)
    customer_orders = SQLExecuteQueryOperator(
        task_id="customer_orders", conn_id="warehouse", sql="customer_orders.sql", split_statements=True
    )

    @task
    def city_report() -> dict:
        """A hook used directly in a task: governed like the operators (the emails come back masked)."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection("warehouse").get_hook()
        assert isinstance(hook, DbApiHook)
        cities = hook.get_records("select city, sum(revenue) from mart.customer_orders group by city order by city")
        emails = hook.get_records("select email from raw.customers order by id")
        return {"revenue_by_city": [[city, float(revenue)] for city, revenue in cities], "emails": [row[0] for row in emails]}

    drop_legacy_code = SQLExecuteQueryOperator(
        task_id="drop_legacy_code",
        conn_id="warehouse",
        sql="alter table raw.customers drop column legacy_code",
    )

    seed >> customer_orders >> city_report() >> drop_legacy_code
