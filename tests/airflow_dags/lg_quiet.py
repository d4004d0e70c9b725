"""A task that runs no SQL at all: a bad policy must still fail it at start."""
import datetime

from airflow.sdk import DAG, task

with DAG("lg_quiet", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task
    def say_hello():
        return "hello"

    say_hello()
