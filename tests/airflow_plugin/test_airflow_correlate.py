"""`lineage correlate` on a governed Airflow run on PostgreSQL with the OpenLineage provider: every
statement the run sends is attributed to it (its statements by comment, the plugin's catalog
reads by comment, transaction control and the provider's catalog lookups by session or time),
and a statement sent with psql during the run is still caught."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_support import task_run_id
from correlate_support import wait_for_log

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

SEED = """
create schema raw; create schema mart;
create table raw.customers (id int, full_name text, email text, ssn text, salary numeric(12,2), birth_date date, city text);
insert into raw.customers values (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 1, '1990-12-10', 'London'),
                                 (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 2, '1985-06-23', 'Manchester');
create table mart.city_counts (city text, n bigint);
"""


@pytest.fixture(scope="module")
def correlated(postgres, airflow_home):
    import psycopg

    if __import__("shutil").which("psql") is None:
        pytest.skip("the psql client is not installed")
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("drop database if exists lgcorrelate")
        connection.execute("create database lgcorrelate")
    with psycopg.connect(postgres.dsn_for("lgcorrelate"), autocommit=True) as connection:
        connection.execute(SEED)
    airflow_home.connection("pg_correlate", conn_type="postgres", host="127.0.0.1", port=postgres.port, login="postgres", schema="lgcorrelate")
    time.sleep(0.01)
    since = datetime.now(timezone.utc) - timedelta(milliseconds=5)
    run = airflow_home.test("lg_correlate")
    assert airflow_home.task_states(run) == {"load": "success", "read_while_someone_uses_psql": "success"}
    time.sleep(1.0)  # the provider's last lookups (its COMPLETE events run in a thread)
    wait_for_log(postgres, "select ssn from raw.customers")
    return run, since


def test_everything_the_run_sent_is_attributed_and_psql_is_caught(postgres, airflow_home, correlated, cli):
    run, since = correlated
    ledger = airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"]
    result = cli("correlate", str(postgres.log_dir), "--ledger", ledger, "--database", "lgcorrelate", "--since", since.isoformat(), "--format", "json")
    report = result.json()
    # the one statement no pipeline sent, and nothing else
    assert [(item["sql"], item["application"]) for item in report["unattributed"]] == [("SELECT ssn FROM raw.customers", "")], report["unattributed"]
    assert result.code == 1 and report["divergences"] == []
    runs = {item["run_id"]: item for item in report["runs"]}
    expected = {task_run_id(run, task) for task in ("load", "read_while_someone_uses_psql")}
    assert set(runs) == expected
    for item in runs.values():
        assert item["statements"] >= 2  # the plugin's catalog read and the task's own statement, by comment
        assert item["control"] >= 1  # BEGIN / COMMIT in the run's sessions
    # the provider's CURRENT_SCHEMA / information_schema lookups for the SQL operator, during and after the task
    assert runs[task_run_id(run, "load")]["catalog_lookups"] >= 2
    assert report["catalog_lookups"] == sum(item["catalog_lookups"] for item in runs.values())
    assert report["logged_statements"] == report["attributed"] + 1 + report["ledger_traffic"] + report["transaction_control_outside_runs"]
    assert report["transaction_control_outside_runs"] == 0

    # the provider's own lookups never become lineage of a task (its per-query runs of hook SQL)
    import json

    assert not [e["job"]["name"] for e in airflow_home.openlineage_events()
                if ".query." in e["job"]["name"] and ("CURRENT_SCHEMA" in json.dumps(e) or "information_schema" in json.dumps(e))]

    table = cli("correlate", str(postgres.log_dir), "--ledger", ledger, "--database", "lgcorrelate", "--since", since.isoformat())
    assert "UNATTRIBUTED (1)" in table.out and "catalog lookups" in table.out
