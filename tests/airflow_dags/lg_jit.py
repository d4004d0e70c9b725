"""Just-in-time credentials: the operator's SQL runs as a per-run role granted exactly what it needs."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, task

with DAG("lg_jit", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    SQLExecuteQueryOperator(
        task_id="load",
        conn_id="pgjit",
        sql=[
            "insert into mart.totals select customer_id, sum(amount) from raw.orders group by customer_id",
            "select count(*) from mart.totals",
        ],
    )
    # reads raw.customers inside a function the analysis cannot see into: not granted, so refused by the database
    SQLExecuteQueryOperator(task_id="hidden_read", conn_id="pgjit", sql="select count_customers()")

    @task
    def hook_without_known_sql():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id="pgjit").get_first("select count(*) from raw.orders")

    hook_without_known_sql()

# killed while it runs (SIGTERM, as the supervisor does before SIGKILL): its role must not outlive it
with DAG("lg_jit_sleep", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    SQLExecuteQueryOperator(task_id="sleep", conn_id="pgjit", sql="select pg_sleep(120)")
