"""A statement the test policy blocks in prod (drop_table), after one it allows."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG("lg_block", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    SQLExecuteQueryOperator(
        task_id="drop_orders",
        conn_id="warehouse",
        sql="insert into raw.orders values (99, 1, 1.00, now()); drop table raw.orders",
        retries=3,
    )
