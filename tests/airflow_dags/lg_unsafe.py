"""Text PostgreSQL reads differently from the analysis, and a database error that echoes a raw row."""
import datetime

from airflow.sdk import DAG, task

with DAG("lg_unsafe", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task(retries=2)
    def nul_delete():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        # libpq would cut the text at the NUL and delete every row
        PostgresHook(postgres_conn_id="pg_unsafe").run("delete from raw.customers\x00 where id = 999")

    @task
    def failing_row():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        # PostgreSQL answers with DETAIL: Failing row contains (<the raw row>)
        PostgresHook(postgres_conn_id="pg_unsafe").run("update raw.customers set id = null where id = 1")

    nul_delete()
    failing_row()
