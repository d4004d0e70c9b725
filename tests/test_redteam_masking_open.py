"""Red-team findings, masking: a masked identity gets raw values back (open attacks, one test each;
they FAIL until fixed, then move to the permanent tests)."""

from __future__ import annotations

import shutil
import uuid

import pytest

from lineage.adapters.dbapi import govern
from lineage.identity.run_identity import RunIdentity

from redteam_support import ALICE, ALICE_SSN, BOTH, PIPELINE, POLICY_PATH, REFUSED, Session, leaked, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)


# 1. Engine.learn overwrites the catalog's column list of an existing protected table with the
#    columns of a CREATE ... AS that did not create it (IF NOT EXISTS: a no-op in the database) or
#    that created dbt's swap relation x__dbt_tmp (learned under the logical name x). The masks are
#    planned from that list: RETURNING of an UPDATE then hands back the real, unlisted columns raw.
POISONS = [
    "CREATE TABLE IF NOT EXISTS crm.customers AS SELECT 1 AS id",
    "CREATE TABLE crm.customers__dbt_tmp AS SELECT 1 AS id",
]


@BOTH
@pytest.mark.parametrize("poison", POISONS)
def test_a_learned_column_list_does_not_unmask_a_protected_table(sessions, kind, poison):
    session = sessions(kind)
    first = session.attempt(poison)
    if isinstance(first, REFUSED):
        return
    outcome = session.attempt("UPDATE crm.customers SET id = id WHERE id = 1 RETURNING full_name, email, ssn, salary, birth_date")
    refused_or_clean(outcome, f"UPDATE ... RETURNING after {poison!r}")


@pytest.mark.postgres
def test_a_learned_column_list_does_not_unmask_for_a_role_with_only_select_and_update(sessions, pg_dsn):
    """The same without privileges beyond the pipeline's own: USAGE on crm, SELECT and UPDATE on the table."""
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        role = f"etl_{uuid.uuid4().hex[:8]}"
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA crm TO {role}")
        admin.execute(f"GRANT SELECT, UPDATE ON crm.customers TO {role}")
    session = sessions("postgres", dsn=pg_dsn.replace("postgres@", f"{role}@"))
    first = session.attempt("CREATE TABLE IF NOT EXISTS crm.customers AS SELECT 1 AS id")
    if isinstance(first, REFUSED):
        return
    refused_or_clean(session.attempt("UPDATE crm.customers SET id = id WHERE id = 1 RETURNING email, ssn"), "UPDATE ... RETURNING")

# 3. DuckDB binds a WITH RECURSIVE CTE's own name, in a body without UNION (and in the anchor
#    term of one with UNION), to the table: the rewrite takes it for the CTE and masks nothing.
RECURSIVE_SHADOWS = [
    "WITH RECURSIVE customers AS (SELECT full_name, email, ssn FROM customers) SELECT * FROM customers",
    "WITH RECURSIVE customers AS (SELECT ssn FROM customers UNION SELECT ssn FROM customers) SELECT * FROM customers",
]


@pytest.mark.parametrize("setup", ["SET search_path = 'crm'", "USE memory.crm"])
@pytest.mark.parametrize("query", RECURSIVE_SHADOWS)
def test_a_recursive_cte_named_like_a_protected_table_reads_it_masked_on_duckdb(sessions, setup, query):
    session = sessions("duckdb")
    if isinstance(session.attempt(setup), REFUSED):
        return
    refused_or_clean(session.attempt(query), query)

# 5b. CVE-2018-1058 style: an overload of an allowlisted name for a BUILT-IN type in a schema on
#     the default search path (here made by an administrator outside governance, as an extension
#     or a DBA would) wins over pg_catalog's even with pg_catalog first: lower(varchar) is a better
#     match than pg_catalog.lower(text). The allowlist passes the call by its name.
@pytest.mark.postgres
def test_an_allowlisted_name_resolving_to_a_user_overload_is_refused(sessions, pg_dsn):
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS $$ SELECT string_agg(ssn, ',') FROM crm.customers $$")
    session = sessions("postgres", dsn=pg_dsn)
    refused_or_clean(session.attempt("SELECT lower(city::varchar) FROM crm.customers LIMIT 1"), "lower(varchar)")

# 6. The same attack (1.) through `lineage exec`: one invocation, two statements.
@pytest.mark.postgres
def test_lineage_exec_does_not_unmask_after_a_learned_column_list(cli, pg_dsn, tmp_path, key_env):  # noqa: F811
    result = cli(
        "exec", "--dsn", pg_dsn, "--policy", str(POLICY_PATH), "--principal", ALICE.principal, "--group", "analysts",
        "--ledger", str(tmp_path / "ledger.db"), "--format", "json",
        "--sql", "CREATE TABLE IF NOT EXISTS crm.customers AS SELECT 1 AS id",
        "--sql", "UPDATE crm.customers SET id = id WHERE id = 1 RETURNING email, ssn",
    )
    assert not leaked(result.out + result.err), f"lineage exec printed raw values: {sorted(leaked(result.out))[:4]}"

# 7. The Airflow hook path (tests/airflow_dags/lg_redteam.py): the swap-name rename (2.) and the
#    learned column list (1.), through DuckDBHook as the run's masked identity.
AIRFLOW_SEED = """
create schema if not exists raw;
create or replace table raw.customers (id integer, full_name varchar, email varchar, ssn varchar,
    salary decimal(12,2), birth_date date, city varchar);
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester');
"""
AIRFLOW_RAW = ["Ada Lovelace", "ada@example.com", "123-45-6789", "alan@example.org", "987-65-4321"]


@pytest.mark.airflow
@pytest.mark.parametrize("task_id", ["rename_to_dbt_backup_then_read", "learned_catalog_then_returning"])
def test_airflow_hook_does_not_hand_a_masked_run_raw_values(airflow_home, tmp_path, task_id):
    import duckdb

    path = tmp_path / "redteam.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(AIRFLOW_SEED)
    airflow_home.connection("rt_warehouse", conn_type="duckdb", host=str(path))
    run = airflow_home.test("lg_redteam")
    returned = repr(airflow_home.xcom(run, task_id))
    assert not [value for value in AIRFLOW_RAW if value in returned], f"{task_id} returned raw values: {returned[:300]}"

# 8. The dbt path: a model whose WITH RECURSIVE CTE is named like the classified seed (3.); the
#    pre-flight sees no read of raw.raw_customers, so nothing refuses the raw read (unmasked_read).
@pytest.mark.dbt
def test_dbt_preflight_refuses_a_recursive_cte_that_reads_a_classified_table_raw(tmp_path):
    from test_dbt_runner import Warehouse, governed, raw_values
    from testkit.dbt_project import example_project

    project = example_project(tmp_path / "project")
    (project / "models" / "staging" / "stg_leak.sql").write_text(
        "{{ config(pre_hook=\"set search_path = 'raw'\") }}\n"
        "-- depends_on: {{ ref('raw_customers') }}\n"
        "with recursive raw_customers as (select email, ssn from raw_customers) select * from raw_customers\n"
    )
    warehouse = Warehouse("duckdb", tmp_path)
    run = governed(warehouse, project, tmp_path / "state", ["build", "--select", "raw_customers", "stg_leak"])
    if "staging.stg_leak" not in warehouse.tables():
        return  # refused (or failed): nothing was written
    stored = repr(warehouse.rows("select * from staging.stg_leak"))
    assert not [value for value in raw_values() if value and value in stored], f"exit {run.outcome.exit_code}: raw PII in staging.stg_leak"

# 8b. The dbt path, key material: a view model reading a hashed column through the governed
#     source() stores the derived key's HMAC pads in its definition (the rewrite refuses such a
#     view, the macros do not); a masked identity reads it from duckdb_views() (allowlisted) and
#     computes the mask of any candidate value: 10^9 SSNs are minutes of SHA-256.
@pytest.mark.dbt
def test_dbt_view_models_do_not_store_key_material_a_masked_identity_can_read(tmp_path, monkeypatch):
    import hashlib
    import re

    import duckdb

    import test_dbt_runner as runner
    from testkit.dbt_project import example_project

    hashed = runner.POLICY.read_text().replace("    strategy: show_last\n    args:\n      chars: 4", "    strategy: hash\n    args:\n      length: 16")
    hashed = hashed.replace("masking:\n", "masking:\n  hash_key: {env: LINEAGE_MASKING_KEY}\n", 1)
    assert "strategy: hash" in hashed
    policy = tmp_path / "policy.yaml"
    policy.write_text(hashed)
    monkeypatch.setattr(runner, "POLICY", policy)
    project = example_project(tmp_path / "project")
    (project / "models" / "staging" / "stg_ssn_view.sql").write_text(
        "{{ config(materialized='view') }}\n-- depends_on: {{ builtins.ref('raw_customers') }}\n"
        "select id, ssn from {{ source('shop', 'customers') }}\n"
    )
    warehouse = runner.Warehouse("duckdb", tmp_path)
    run = runner.governed(warehouse, project, tmp_path / "state", ["build", "--select", "raw_customers", "stg_ssn_view"],
                          LINEAGE_MASKING_KEY="redteam-dbt-key-0123456789abcdef")
    if "staging.stg_ssn_view" not in warehouse.tables():
        return  # refused: no view holds the key's pads
    masked = {row[0] for row in warehouse.rows("select ssn from staging.stg_ssn_view")}
    raw_ssns = {row[0] for row in warehouse.rows("select ssn from raw.raw_customers")}
    # the attacker: a masked identity, through the governed connection, reads the view's definition
    connection = duckdb.connect(str(warehouse.duckdb))
    try:
        governed_connection = govern(connection, policy=str(policy), identity=RunIdentity(principal="svc:reader"), ledger=False)
        definition = repr(governed_connection.execute("select sql from duckdb_views() where view_name = 'stg_ssn_view'").fetchall())
    except REFUSED:
        return
    finally:
        connection.close()
    pads = [bytes.fromhex(found) for found in re.findall(r"unhex\(\\?'([0-9a-f]{128})", definition)]
    recovered = set()
    if len(pads) == 2:
        outer, inner = pads
        for candidate in raw_ssns:  # stands for the 10^9 candidates an attacker would try
            mask = hashlib.sha256(outer + hashlib.sha256(inner + candidate.encode()).digest()).hexdigest()[:16]
            if mask in masked:
                recovered.add(candidate)
    assert not recovered, f"exit {run.outcome.exit_code}: from the view's definition a masked identity recomputes the masks of {len(recovered)} SSNs"
