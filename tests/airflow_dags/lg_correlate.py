"""A governed run on PostgreSQL with the OpenLineage provider, and someone using psql meanwhile."""
import datetime
import os
import shutil
import subprocess

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, task

with DAG("lg_correlate", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    load = SQLExecuteQueryOperator(
        task_id="load",
        conn_id="pg_correlate",
        sql="insert into mart.city_counts select city, count(*) from raw.customers group by city",
    )

    @task
    def read_while_someone_uses_psql():
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from airflow.sdk import BaseHook

        rows = PostgresHook(postgres_conn_id="pg_correlate").get_records("select id, city from raw.customers where id = %s", parameters=(1,))
        # the same database user, the same database, during the run: not through any pipeline
        connection = BaseHook.get_connection("pg_correlate")
        dsn = f"postgresql://{connection.login}@{connection.host}:{connection.port}/{connection.schema}"
        subprocess.run([shutil.which("psql"), dsn, "-X", "-q", "-c", "select ssn from raw.customers"],
                       env={**os.environ, "PGAPPNAME": ""}, check=True, capture_output=True, timeout=30)
        return len(rows)

    load >> read_while_someone_uses_psql()
