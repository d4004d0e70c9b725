"""A task whose first try is still inside a statement when its worker dies (the test kills it):
the retry (retries=1) runs on the other worker."""
import datetime

from airflow.sdk import DAG, task

with DAG("lg_crash", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, default_args={"owner": "data-eng"}):

    @task(retries=1, retry_delay=datetime.timedelta(seconds=1))
    def load(ti=None):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        hook = PostgresHook(postgres_conn_id="warehouse")
        hook.run(f"insert into crash.steps (try_number, step) values ({ti.try_number}, 'before')", autocommit=True)
        hook.run(f"select pg_sleep({600 if ti.try_number == 1 else 0})")  # the first try's worker dies in here
        hook.run(f"insert into crash.steps (try_number, step) values ({ti.try_number}, 'after')", autocommit=True)

    load()
