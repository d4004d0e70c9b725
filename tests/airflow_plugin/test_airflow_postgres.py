"""The plugin against a real PostgreSQL 15: identity on the wire (comment and application_name in
the server's csvlog), parameters through a format-style driver, get_df over SQLAlchemy, and the
OpenLineage provider's own metadata queries running untouched (no identity comment)."""

from __future__ import annotations

import csv
import re

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

SEED = """
drop schema if exists raw cascade; drop schema if exists mart cascade;
create schema raw; create schema mart;
create table raw.customers (id int, full_name text, email text, ssn text, salary numeric(12,2), birth_date date, city text);
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester');
create table mart.city_counts (city text, n bigint);
"""


@pytest.fixture(scope="module")
def pg_warehouse(postgres, airflow_home):
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("drop database if exists lgpg")
        connection.execute("create database lgpg")
    with psycopg.connect(postgres.dsn_for("lgpg"), autocommit=True) as connection:
        connection.execute(SEED)
    airflow_home.connection("pg", conn_type="postgres", host="127.0.0.1", port=postgres.port, login="postgres", schema="lgpg")
    return postgres


def csvlog_rows(postgres) -> list[list[str]]:
    rows = []
    for path in postgres.csv_logs():
        with open(path, newline="") as handle:
            rows.extend(csv.reader(handle))
    return rows


def test_identity_reaches_postgres_and_provider_lookups_pass_untouched(airflow_home, pg_warehouse):
    from lineage.identity.comment import parse_comment

    run = airflow_home.test("lg_postgres")
    assert airflow_home.task_states(run) == {"transform": "success", "read_with_hook": "success"}
    result = airflow_home.xcom(run, "read_with_hook")
    assert result == {"rows": [[1, "London"]], "cities": ["London", "Manchester"]}

    from airflow_plugin.identity import ol_task_run_id

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    run_ids = {task_id: ol_task_run_id("lg_postgres", task_id, ti.try_number, run.logical_date, ti.map_index) for task_id, ti in tis.items()}
    # simple protocol logs "statement: ...", extended protocol (parameters) "execute <name>: ..."
    statements = [row for row in csvlog_rows(pg_warehouse) if re.match(r"(statement|execute [^:]*): ", row[13]) and row[2] == "lgpg"]
    governed = {}
    for row in statements:
        fields = parse_comment(row[13])
        if fields and fields.get("dag_id") == "lg_postgres" and fields["run_id"] in run_ids.values():
            governed.setdefault(fields["task_id"], []).append((row[13], row[22]))
    assert set(governed) == {"transform", "read_with_hook"}
    for task_id, seen in governed.items():
        for text, application in seen:
            # the same run id in the comment and in the session's application_name
            assert f"run_id='{run_ids[task_id]}'" in text
            assert application == f"lg:{run_ids[task_id]}:dag_test"[:63]
    hook_statements = [text for text, _ in governed["read_with_hook"]]
    # parameters bound by the driver (extended protocol), with the comment's '%' intact
    assert any(text.startswith("execute ") and "= $1" in text and "lg_policy='sha256%3A" in text for text in hook_statements)
    assert any("city_counts" in text for text in hook_statements)  # get_df over SQLAlchemy went through the governor
    # the plugin's own catalog reads carry the task's comment and are ledger records (session, catalog);
    # the OpenLineage provider looked up the operator's tables in information_schema: raw, without our comment
    from lineage.fingerprint import fingerprint
    from airflow_support import ledger_bodies

    sessions = [r for r in ledger_bodies(airflow_home, "lg_postgres", run.run_id, sessions=True) if r["kind"] == "session"]
    assert sessions and {r["payload"]["purpose"] for r in sessions} == {"catalog"}
    ours = {r["payload"]["fingerprint"] for r in sessions}
    lookups = [row[13].split(": ", 1)[1] for row in statements if "information_schema" in row[13]]
    catalog_reads = [text for text in lookups if fingerprint(text, "postgres") in ours]
    provider = [text for text in lookups if fingerprint(text, "postgres") not in ours]
    assert catalog_reads and all((parse_comment(text) or {}).get("run_id") in run_ids.values() for text in catalog_reads)
    assert provider, "the OpenLineage provider issued no information_schema lookup (is it enabled?)"
    assert [text for text in provider if parse_comment(text)] == []
    # the ledger: the same run ids, the same statements; the provider's lookups are not there
    records = [r for r in ledger_bodies(airflow_home, "lg_postgres", run.run_id) if r["kind"] == "statement"]
    assert {(r["identity"]["attributes"]["task_id"], r["identity"]["run_id"]) for r in records} == set(run_ids.items())
    finished = [r for r in records if r["phase"] == "finished"]
    assert len(finished) + len(catalog_reads) == sum(len(seen) for seen in governed.values())
    assert not [r for r in records if "information_schema" in r["statement"]["sql"].lower() or "current_schema" in r["statement"]["sql"].lower()]
    assert {r["identity"]["database_user"] for r in records} == {"postgres"}
    # the events: each statement a child run of the same run id, the provider's task runs too
    ours = [e for e in airflow_home.plugin_events() if ".query." in e["job"]["name"] and e["job"]["name"].startswith("lg_postgres.")]
    children = {(e["job"]["name"].split(".query.")[0].split(".")[1], e["run"]["facets"]["parent"]["run"]["runId"]) for e in ours
                if e["run"]["facets"]["parent"]["run"]["runId"] in run_ids.values()}
    assert children == set(run_ids.items())
    assert all(e["inputs"][0]["namespace"] == f"postgres://127.0.0.1:{pg_warehouse.port}" for e in ours if e["inputs"])
    provider_runs = {e["run"]["runId"] for e in airflow_home.openlineage_events() if e["job"]["name"].startswith("lg_postgres.")}
    assert set(run_ids.values()) <= provider_runs
