"""Dataset naming per OpenLineage's naming spec and Marquez's namespace pattern, on every dialect."""

from __future__ import annotations

import json

import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.deliver.build import statement_event, statement_job_facets, statement_run_facets
from lineage.deliver.datasets import Where, statement_datasets
from lineage.deliver.emit import serialize
from lineage.deliver.naming import (
    DATASET_NAMESPACE_PATTERN,
    bigquery_namespace,
    dataset_name,
    duckdb_database,
    duckdb_namespace,
    normalize_host,
    postgres_context,
    postgres_namespace,
    sanitize_job_namespace,
    sanitize_name,
    snowflake_namespace,
)
from lineage.deliver.validate import validate_event
from lineage.identity.run_identity import RunIdentity, new_run_id
from openlineage.client.event_v2 import RunState


@pytest.mark.parametrize("host,expected", [
    ("localhost", "localhost"), ("127.0.0.1", "127.0.0.1"), ("LocalHost", "localhost"),  # as the connection spells it
    ("/var/run/postgresql", "localhost"), (None, "localhost"), ("", "localhost"),        # a Unix socket
])
def test_hosts_keep_the_connections_spelling(host, expected):
    """Other producers (the Airflow provider, openlineage-dbt) name the host as the connection
    does: a loopback rewritten to ``localhost`` here would be a second copy of each dataset."""
    assert postgres_namespace(host, 5432) == f"postgres://{expected}:5432"


def test_host_aliases_and_ports(monkeypatch):
    assert postgres_namespace("DB.Internal", None) == "postgres://db.internal:5432"
    monkeypatch.setenv("LINEAGE_HOST_ALIASES", "pg=db.internal, 10.0.0.5=db.internal")
    assert normalize_host("pg") == "db.internal" and normalize_host("10.0.0.5") == "db.internal"
    assert postgres_namespace("pg", 6543) == "postgres://db.internal:6543"


def test_postgres_context_from_dsns_and_a_connection(postgres):
    import psycopg

    assert postgres_context("postgresql://etl:secret@127.0.0.1:5433/shop") == ("postgres://127.0.0.1:5433", "shop")
    assert postgres_context("host=warehouse port=5439 dbname=dw user=x") == ("postgres://warehouse:5439", "dw")
    assert postgres_context("postgresql:///shop?host=/tmp") == ("postgres://localhost:5432", "shop")
    with psycopg.connect(postgres.dsn) as connection:
        assert postgres_context(connection) == (f"postgres://127.0.0.1:{postgres.port}", "postgres")


def test_duckdb_paths_become_valid_namespaces(tmp_path):
    path = tmp_path / "my warehouse (v2).duckdb"
    namespace = duckdb_namespace(path)
    assert namespace.startswith("duckdb:///") and " " not in namespace and DATASET_NAMESPACE_PATTERN.match(namespace)
    assert namespace == duckdb_namespace(str(path))  # one spelling for a path and its string
    assert duckdb_namespace(":memory:") == "duckdb://memory" and duckdb_database(":memory:") == "memory"
    assert duckdb_database(path) == "my warehouse (v2)"


def test_snowflake_and_bigquery():
    assert snowflake_namespace("MyOrg-MyAccount") == "snowflake://myorg-myaccount"
    assert snowflake_namespace("xy12345") == "snowflake://xy12345.us-west-1.aws"
    assert snowflake_namespace("xy12345.us-east-2") == "snowflake://xy12345.us-east-2.aws"
    assert snowflake_namespace("xy12345.east-us-2.azure.snowflakecomputing.com") == "snowflake://xy12345.east-us-2.azure"
    assert bigquery_namespace() == "bigquery"


def test_names():
    assert dataset_name("customers", "analytics", "postgres") == "analytics.public.customers"
    assert dataset_name("crm.customers", "analytics", "postgres") == "analytics.crm.customers"
    assert dataset_name("main.t", "shop", "duckdb") == "shop.main.t"
    assert dataset_name("proj.ds.t", None, "bigquery") == "proj.ds.t"
    assert sanitize_name("orders:v2#1") == "orders_v2_1"
    assert sanitize_job_namespace("airflow prod!") == "airflow_prod_"


@pytest.mark.parametrize("dialect,namespace,database,sql", [
    ("snowflake", snowflake_namespace("acme-prod"), "ANALYTICS", "insert into mart.contacts (id, email) select id, email from crm.customers"),
    ("bigquery", bigquery_namespace(), "my-project", "insert into mart.contacts (id, email) select id, email from crm.customers"),
    ("postgres", postgres_namespace("localhost", 5432), "analytics", "create table mart.x as select id, email from crm.customers"),
])
def test_events_for_every_dialect_validate(dialect, namespace, database, sql, loaded_policy):
    catalog = Catalog.from_mapping({database: {"crm": {"customers": {"id": "int", "email": "text"}}, "mart": {"contacts": {"id": "int", "email": "text"}}}}, dialect=dialect)
    engine = Engine(loaded_policy, catalog, dialect=dialect)
    identity = RunIdentity(principal="svc:etl", job_namespace="etl", job_name="load")
    decision = engine.check(sql, identity)[0]
    inputs, outputs = statement_datasets(decision, Where(namespace, database, dialect), catalog, engine.classifier)
    event = statement_event(RunState.COMPLETE, identity, decision, run_id=new_run_id(), number=1, inputs=inputs, outputs=outputs,
                            outcome="completed", run_facets=statement_run_facets(identity), job_facets=statement_job_facets(decision.sql, dialect))
    data = json.loads(serialize(event))
    assert validate_event(data) == []
    assert data["inputs"][0]["namespace"] == namespace and data["inputs"][0]["name"].lower() == f"{database}.crm.customers".lower()
    assert "email" in data["outputs"][0]["facets"]["columnLineage"]["fields"]
