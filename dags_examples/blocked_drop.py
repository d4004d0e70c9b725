"""A DROP TABLE that the example policy blocks in prod: the task fails, without retries, and the
table is still there. Run with ``[lineage_governance] environment = prod``; in dev it is allowed.
"""

from __future__ import annotations

import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG(
    "blocked_drop",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "data-eng", "retries": 2},
    tags=["lineage-governance", "example"],
):
    SQLExecuteQueryOperator(task_id="drop_orders", conn_id="warehouse", sql="drop table raw.orders")
