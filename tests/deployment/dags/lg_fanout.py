"""Twenty independent tasks, each sending three governed statements to the warehouse (one a
masked read of raw.customers): spread over the Celery workers, all into one ledger."""
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

PARTS = 20

with DAG("lg_fanout", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, max_active_tasks=PARTS,
         default_args={"owner": "data-eng", "retries": 0}):
    for part in range(PARTS):
        SQLExecuteQueryOperator(
            task_id=f"part_{part:02d}",
            conn_id="warehouse",
            sql=[
                f"insert into fanout.parts (dag_run_id, part, try_number) values ('{{{{ run_id }}}}', {part}, {{{{ ti.try_number }}}})",
                f"select email, city from raw.customers where id = {part % 3 + 1}",
                f"update fanout.parts set done = true where dag_run_id = '{{{{ run_id }}}}' and part = {part}",
            ],
        )
