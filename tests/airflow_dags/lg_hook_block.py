"""A @task whose hook call is blocked: the task fails at the hook, without retries."""
import datetime

from airflow.sdk import DAG, task

with DAG("lg_hook_block", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task(retries=3)
    def drop_with_a_hook():
        from duckdb_provider.hooks.duckdb_hook import DuckDBHook

        hook = DuckDBHook(duckdb_conn_id="warehouse")
        hook.run("insert into raw.orders values (98, 1, 1.00, now())")
        hook.run("drop table raw.orders")

    drop_with_a_hook()
