"""Attacks through the Airflow hook path (tests/airflow_plugin/test_airflow_swap_names.py,
tests/mask/test_masking_catalog.py): a masked run's statements that would read raw values of a
classified table. Its own connection (``rt_warehouse``),
so what it does to the engine's catalog stays out of the other DAGs' runs."""
import datetime

from airflow.sdk import DAG, task

with DAG("lg_redteam", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task
    def rename_to_dbt_backup_then_read():
        from duckdb_provider.hooks.duckdb_hook import DuckDBHook

        hook = DuckDBHook(duckdb_conn_id="rt_warehouse")
        # dbt's swap names are exempt from the protected-table rename refusal, and not classified
        hook.run("alter table raw.customers rename to customers__dbt_backup")
        try:
            rows = hook.get_records("select email, ssn from raw.customers__dbt_backup order by id")
        finally:
            hook.run("alter table raw.customers__dbt_backup rename to customers")
        return [list(row) for row in rows]

    @task
    def learned_catalog_then_returning():
        from duckdb_provider.hooks.duckdb_hook import DuckDBHook

        hook = DuckDBHook(duckdb_conn_id="rt_warehouse")
        # a no-op for the database; the engine learns that raw.customers has the column id only
        hook.run("create table if not exists raw.customers as select 1 as id")
        rows = hook.get_records("update raw.customers set id = id where id = 1 returning email, ssn")
        return [list(row) for row in rows]

    rename_to_dbt_backup_then_read() >> learned_catalog_then_returning()
