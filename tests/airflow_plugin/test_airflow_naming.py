"""Dataset names: the plugin's statement runs and the OpenLineage provider's task runs name the
same table the same way, so Marquez shows one node per table (one DAG, PostgreSQL and DuckDB)."""

from __future__ import annotations

import pytest

from airflow_support import seed, task_run_id

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

SEED = """
drop schema if exists raw cascade; drop schema if exists mart cascade;
create schema raw; create schema mart;
create table raw.customers (id int, full_name text, email text, ssn text, salary numeric(12,2), birth_date date, city text);
insert into raw.customers values (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 1, '1990-12-10', 'London');
create table mart.city_counts (city text, n bigint);
"""


@pytest.fixture(scope="module")
def naming_run(postgres, airflow_home):
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("drop database if exists lgnaming")
        connection.execute("create database lgnaming")
    with psycopg.connect(postgres.dsn_for("lgnaming"), autocommit=True) as connection:
        connection.execute(SEED)
    # the loopback spelled as an address: the provider keeps it, so must we
    airflow_home.connection("pg_naming", conn_type="postgres", host="127.0.0.1", port=postgres.port, login="postgres", schema="lgnaming")
    seed(airflow_home.warehouse)
    run = airflow_home.test("lg_naming")
    assert airflow_home.task_states(run) == {"on_postgres": "success", "on_duckdb": "success"}
    return run


def datasets(events: list[dict]) -> set[tuple[str, str, str]]:
    return {(role, d["namespace"], d["name"]) for e in events for role in ("inputs", "outputs") for d in e.get(role) or ()}


def test_the_plugin_names_every_dataset_as_the_provider_does(airflow_home, naming_run, postgres):
    run = naming_run
    for task, provider_names in (("on_postgres", True), ("on_duckdb", False)):
        run_id = task_run_id(run, task)
        provider = [e for e in airflow_home.openlineage_events() if e["run"]["runId"] == run_id]
        ours = [e for e in airflow_home.plugin_events() if (e["run"]["facets"].get("parent") or {}).get("run", {}).get("runId") == run_id]
        assert provider and ours, task
        theirs, mine = datasets(provider), datasets(ours)
        assert mine, task
        if provider_names:
            assert theirs == mine, task  # every input and output, namespace and name
        else:
            # DuckDBHook has no OpenLineage database info: the provider names no dataset, so
            # nothing can disagree; ours follow openlineage-dbt (duckdb://{path})
            assert theirs == set()
            assert {namespace for _, namespace, _ in mine} == {f"duckdb://{airflow_home.warehouse}"}
    namespaces = {namespace for e in airflow_home.plugin_events() for _, namespace, _ in datasets([e])
                  if e["job"]["name"].startswith("lg_naming.on_postgres")}
    assert namespaces == {f"postgres://127.0.0.1:{postgres.port}"}


def test_the_providers_stock_events_validate_and_the_marquez_server_takes_them(airflow_home, naming_run, tmp_path, cli):
    """The provider's own events (its ``airflow*`` facets with the generic schema URL, column lineage
    without transformationDescription) are what the spec and Marquez accept: `lineage events
    validate` and the Marquez-contract server accept them; ours are still held to every rule."""
    import json
    import urllib.request

    from lineage.deliver.validate import validate_events
    from lineage.deliver.marquez.server import MarquezServer

    run = naming_run
    run_ids = {task_run_id(run, task) for task in ("on_postgres", "on_duckdb")}
    provider = [e for e in airflow_home.openlineage_events() if e["run"]["runId"] in run_ids]
    assert any("airflow" in e["run"]["facets"] for e in provider)
    lineage = [field for e in provider for d in e.get("outputs") or () for field in ((d.get("facets") or {}).get("columnLineage") or {}).get("fields", {}).values()]
    assert lineage and not any(field.get("transformationDescription") for field in lineage)  # stock: none
    assert validate_events(provider) == []
    path = tmp_path / "provider.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in provider))
    result = cli("events", "validate", str(path))
    assert result.code == 0 and f"{len(provider)} event(s), all valid" in result.out, result.out
    with MarquezServer() as server:
        for event in provider:
            request = urllib.request.Request(f"{server.url}/api/v1/lineage", data=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 201
        assert server.rejected == [] and len(server.events) == len(provider)
    # the same break in one of our own events is still reported
    ours = next(e for e in airflow_home.plugin_events() if e["run"]["runId"] not in run_ids and e["outputs"])
    broken = json.loads(json.dumps(ours))
    for field in broken["outputs"][0]["facets"].get("columnLineage", {}).get("fields", {}).values():
        field.pop("transformationDescription", None)
    broken["run"]["facets"]["lineageGovernance_identity"]["_schemaURL"] = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"
    problems = validate_events([broken])
    assert any("is not the published schema of lineageGovernance_identity" in p for _, p in problems)
    if ours["outputs"][0]["facets"].get("columnLineage"):
        assert any("transformationDescription is missing" in p for _, p in problems)
