"""Reads of a classified table: masked for the run's identity, in an operator and in a @task hook."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, task

with DAG("lg_mask", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    build = SQLExecuteQueryOperator(
        task_id="build_contacts",
        conn_id="warehouse",
        sql="create or replace table mart.customer_contacts as "
        "select id, full_name, email, ssn, salary, birth_date, city from raw.customers",
    )

    @task
    def read_with_hook():
        from duckdb_provider.hooks.duckdb_hook import DuckDBHook

        hook = DuckDBHook(duckdb_conn_id="warehouse")
        rows = hook.get_records("select email, ssn, city from raw.customers order by id")
        guessed = hook.get_records("select id from raw.customers where email = 'ada@example.com'")
        return {"rows": [list(row) for row in rows], "guessed": [list(row) for row in guessed]}

    @task
    def read_raw_connection():
        from duckdb_provider.hooks.duckdb_hook import DuckDBHook

        hook = DuckDBHook(duckdb_conn_id="warehouse")
        connection = hook.get_conn()  # a raw DB-API connection, governed by lineage.adapters.dbapi
        ssn = connection.cursor().execute("select ssn from raw.customers order by id").fetchall()
        connection.close()
        names = hook.get_df("select full_name from raw.customers order by id")  # pandas over get_conn()
        return {"ssn": [row[0] for row in ssn], "names": names["full_name"].tolist(), "wrapper": type(connection).__name__}

    build >> [read_with_hook(), read_raw_connection()]
