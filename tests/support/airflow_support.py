"""Seeds, queries and ledger reads shared by the Airflow tests."""

from __future__ import annotations

from pathlib import Path
import duckdb


SEED = """
create schema if not exists raw;
drop schema if exists mart cascade;
create schema mart;
create or replace table raw.customers (id integer, full_name varchar, email varchar, ssn varchar,
    salary decimal(12,2), birth_date date, city varchar);
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester');
create or replace table raw.orders (id integer, customer_id integer, amount decimal(12,2), ordered_at timestamp);
insert into raw.orders values (10, 1, 25.50, '2024-01-02 10:00:00'), (11, 2, 12.00, '2024-01-03 11:00:00');
create or replace table raw.scratch (id integer, note varchar);
insert into raw.scratch values (1, 'first');
"""


def seed(path: Path) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute(SEED)


def query(path: Path, sql: str):
    with duckdb.connect(str(path)) as connection:
        return connection.execute(sql).fetchall()


def columns(path: Path, table: str) -> list[str]:
    schema, name = table.split(".")
    return [row[0] for row in query(path, f"select column_name from information_schema.columns where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position")]


def ledger_bodies(home, dag_id: str | None = None, dag_run_id: str | None = None, sessions: bool = False) -> list[dict]:
    """The ledger the tasks wrote, oldest first (optionally one DAG run's records); the plugin's
    own catalog reads (``session`` records) only with ``sessions=True``."""
    from lineage.record import open_ledger

    bodies = [entry.body for entry in open_ledger(home.env["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"]).entries()]
    out = []
    for body in bodies:
        if body.get("kind") == "session" and not sessions:
            continue
        attributes = (body.get("identity") or {}).get("attributes") or {}
        if dag_id and attributes.get("dag_id") != dag_id:
            continue
        if dag_run_id and attributes.get("dag_run_id") != dag_run_id:
            continue
        out.append(body)
    return out


def task_run_id(run, task_id: str) -> str:
    """The OpenLineage provider's run id of a task instance of ``run`` (what the ledger carries)."""
    from airflow_plugin.identity import ol_task_run_id

    ti = next(ti for ti in run.get_task_instances() if ti.task_id == task_id)
    return ol_task_run_id(run.dag_id, task_id, ti.try_number, run.logical_date, ti.map_index)


def logged(capfd) -> str:
    """What the tasks logged (dag.test() logs through structlog to the process's output)."""
    captured = capfd.readouterr()
    return captured.out + captured.err


RAW_VALUES = ("ada@example.com", "alan@example.org", "123-45-6789", "987-65-4321", "Ada Lovelace", "Alan Turing", "120000", "95000", "1990-12-10", "1985-06-23")

