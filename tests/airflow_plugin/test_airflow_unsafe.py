"""The Airflow hook path of issue 13 on a real PostgreSQL 15: a NUL byte never reaches the
server, and a database error that echoes a raw row reaches neither the task log nor the ledger
for the run's masked identity."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

SEED = """
drop schema if exists raw cascade; create schema raw;
create table raw.customers (id int not null, full_name text, email text, ssn text, salary numeric(12,2), birth_date date, city text);
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester');
"""
RAW = ["Ada Lovelace", "ada@example.com", "123-45-6789", "120000", "1990-12-10"]


@pytest.fixture(scope="module")
def unsafe_warehouse(postgres, airflow_home):
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("drop database if exists lgunsafe")
        connection.execute("create database lgunsafe")
    with psycopg.connect(postgres.dsn_for("lgunsafe"), autocommit=True) as connection:
        connection.execute(SEED)
    airflow_home.connection("pg_unsafe", conn_type="postgres", host="127.0.0.1", port=postgres.port, login="postgres", schema="lgunsafe")
    return postgres


def test_unsafe_text_and_raw_error_rows_stay_out_of_the_airflow_path(airflow_home, unsafe_warehouse, capfd):
    import psycopg

    run = airflow_home.test("lg_unsafe")
    assert airflow_home.task_states(run) == {"nul_delete": "failed", "failing_row": "failed"}
    with psycopg.connect(unsafe_warehouse.dsn_for("lgunsafe")) as connection:
        assert connection.execute("select count(*) from raw.customers").fetchone()[0] == 2  # nothing was deleted
        # what the scrubbing hides is real: the server's own error carries the raw row
        with pytest.raises(psycopg.Error) as error:
            connection.execute("update raw.customers set id = null where id = 1")
        assert "123-45-6789" in error.value.diag.message_detail
    captured = capfd.readouterr()
    log = captured.out + captured.err
    assert "unsafe_text" in log and "NUL" in log
    assert "withheld" in log and "violates not-null constraint" in log
    assert not [value for value in RAW if value in log]
    from lineage.record import open_ledger

    records = [entry.body for entry in open_ledger(airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"]).entries()
               if ((entry.body.get("identity") or {}).get("attributes") or {}).get("dag_id") == "lg_unsafe"]
    phases = sorted((r["identity"]["attributes"]["task_id"], r["phase"]) for r in records if r["kind"] == "statement")
    assert ("nul_delete", "refused") in phases and ("failing_row", "failed") in phases
    assert not [value for value in RAW if value in json.dumps(records)]
