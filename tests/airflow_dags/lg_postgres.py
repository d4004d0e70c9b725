"""PostgreSQL through common-sql: an operator's statements, a hook with parameters, a DataFrame."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, task

with DAG("lg_postgres", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    transform = SQLExecuteQueryOperator(
        task_id="transform",
        conn_id="pg",
        sql="insert into mart.city_counts select city, count(*) from raw.customers group by city",
    )

    @task
    def read_with_hook():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        hook = PostgresHook(postgres_conn_id="pg")
        rows = hook.get_records("select id, city from raw.customers where id = %s", parameters=(1,))
        frame = hook.get_df("select city, n from mart.city_counts order by city")
        return {"rows": [list(row) for row in rows], "cities": frame["city"].tolist()}

    transform >> read_with_hook()
