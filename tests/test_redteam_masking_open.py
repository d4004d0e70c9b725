"""Red-team findings, masking: a masked identity gets raw values back (open attacks, one test each;
they FAIL until fixed, then move to the permanent tests)."""

from __future__ import annotations


import pytest

from lineage.adapters.dbapi import govern
from lineage.identity.run_identity import RunIdentity

from redteam_support import REFUSED, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)


# 7. The Airflow hook path (tests/airflow_dags/lg_redteam.py): the swap-name rename, through
#    DuckDBHook as the run's masked identity (the learned column list: tests/test_masking_catalog.py).
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
@pytest.mark.parametrize("task_id", ["rename_to_dbt_backup_then_read"])
def test_airflow_hook_does_not_hand_a_masked_run_raw_values(airflow_home, tmp_path, task_id):
    import duckdb

    path = tmp_path / "redteam.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(AIRFLOW_SEED)
    airflow_home.connection("rt_warehouse", conn_type="duckdb", host=str(path))
    run = airflow_home.test("lg_redteam")
    returned = repr(airflow_home.xcom(run, task_id))
    assert not [value for value in AIRFLOW_RAW if value in returned], f"{task_id} returned raw values: {returned[:300]}"

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
