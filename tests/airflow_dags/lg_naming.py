"""One DAG, two databases: the same tables named by the OpenLineage provider and by the plugin."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG("lg_naming", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    SQLExecuteQueryOperator(
        task_id="on_postgres",
        conn_id="pg_naming",
        sql="insert into mart.city_counts (city, n) select city, count(*) from raw.customers group by city",
    )
    SQLExecuteQueryOperator(
        task_id="on_duckdb",
        conn_id="warehouse",
        sql="create or replace table raw.order_totals as select customer_id, sum(amount) as total from raw.orders group by customer_id",
    )
