"""ALTER TABLE ... DROP COLUMN: held for approval (drop_column -> require_approval)."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG("lg_approval", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    SQLExecuteQueryOperator(
        task_id="drop_legacy_column",
        conn_id="warehouse",
        sql=["insert into raw.scratch values (2, 'second')", "alter table raw.scratch drop column note"],
    )
