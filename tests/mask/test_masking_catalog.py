"""The catalog's column lists, which the masks are planned from, cannot be rewritten by a statement
that did not make the relation: ``CREATE TABLE IF NOT EXISTS`` of an existing table (a no-op in the
database), or dbt's swap relation ``x__dbt_tmp`` (before the swap, x keeps its columns). And a column
the policy classifies that a protected table's catalog list lacks is refused, not passed raw."""

from __future__ import annotations

import uuid

import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.policy import load_policy

from redteam_support import ALICE, BOTH, POLICY_PATH, REFUSED, leaked, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)
from airflow_seeds import AIRFLOW_RAW, AIRFLOW_SEED  # noqa: F401

CUSTOMERS = {"id": "INTEGER", "full_name": "TEXT", "email": "TEXT", "ssn": "TEXT", "salary": "NUMERIC(12,2)", "birth_date": "DATE", "city": "TEXT"}
POISONS = [
    "CREATE TABLE IF NOT EXISTS crm.customers AS SELECT 1 AS id",
    "CREATE TABLE crm.customers__dbt_tmp AS SELECT 1 AS id",
]


def _engine(columns: dict[str, str]) -> Engine:
    catalog = Catalog(dialect="duckdb")
    catalog.add_table("crm.customers", columns)
    return Engine(load_policy(POLICY_PATH), catalog, dialect="duckdb")


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
def test_a_learned_column_list_does_not_unmask_for_a_role_with_only_select_and_update(sessions, pg_dsn):  # noqa: F811
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


@pytest.mark.postgres
def test_lineage_exec_does_not_unmask_after_a_learned_column_list(cli, pg_dsn, tmp_path, key_env):  # noqa: F811
    result = cli(
        "exec", "--dsn", pg_dsn, "--policy", str(POLICY_PATH), "--principal", ALICE.principal, "--group", "analysts",
        "--ledger", str(tmp_path / "ledger.db"), "--format", "json",
        "--sql", "CREATE TABLE IF NOT EXISTS crm.customers AS SELECT 1 AS id",
        "--sql", "UPDATE crm.customers SET id = id WHERE id = 1 RETURNING email, ssn",
    )
    assert not leaked(result.out + result.err), f"lineage exec printed raw values: {sorted(leaked(result.out))[:4]}"


def test_if_not_exists_of_a_known_table_learns_nothing(key_env):  # noqa: F811
    engine = _engine(CUSTOMERS)
    for decision in engine.check("CREATE TABLE IF NOT EXISTS crm.customers AS SELECT 1 AS id", ALICE):
        engine.learn(decision)
    assert list(engine.catalog.columns("crm.customers")) == list(CUSTOMERS)


def test_if_not_exists_of_a_new_table_is_learned(key_env):  # noqa: F811
    engine = _engine(CUSTOMERS)
    for decision in engine.check("CREATE TABLE IF NOT EXISTS staging.fresh AS SELECT 1 AS id, 'x' AS label", ALICE):
        engine.learn(decision)
    assert list(engine.catalog.columns("staging.fresh")) == ["id", "label"]


def test_a_swap_relation_does_not_take_classified_columns_away_from_its_logical_name(key_env):  # noqa: F811
    engine = _engine(CUSTOMERS)
    for decision in engine.check("CREATE TABLE crm.customers__dbt_tmp AS SELECT 1 AS id", ALICE):
        engine.learn(decision)
    assert list(engine.catalog.columns("crm.customers")) == list(CUSTOMERS)
    assert list(engine.catalog.columns("crm.customers__dbt_tmp")) == ["id"]


def test_a_swap_relation_keeping_the_classified_columns_updates_its_logical_name(key_env):  # noqa: F811
    engine = _engine(CUSTOMERS)
    sql = "CREATE TABLE crm.customers__dbt_tmp AS SELECT id, full_name, email, ssn, salary, birth_date, 'x' AS region FROM crm.customers"
    for decision in engine.check(sql, ALICE):
        engine.learn(decision)
    assert list(engine.catalog.columns("crm.customers")) == ["id", "full_name", "email", "ssn", "salary", "birth_date", "region"]


@pytest.mark.parametrize("sql", [
    "UPDATE crm.customers SET id = id WHERE id = 1 RETURNING email, ssn",
    "SELECT email FROM crm.customers",
    "DELETE FROM crm.customers WHERE ssn LIKE '1%'",
])
def test_a_classified_column_the_catalog_does_not_list_is_refused(sql, key_env):  # noqa: F811
    """However the catalog came to lack them (a stale or hand-written catalog file), ssn and email
    of crm.customers are classified: a statement naming them is refused, not planned as unmasked."""
    engine = _engine({"id": "INTEGER", "city": "TEXT"})
    decision = engine.check(sql, ALICE)[0]
    assert not decision.may_run
    assert any(f.detail.get("reason") == "unknown_columns" and "catalog" in f.message for f in decision.findings), [f.message for f in decision.findings]


def test_a_protected_table_whose_catalog_lists_every_classified_column_still_reads_masked(key_env):  # noqa: F811
    decision = _engine(CUSTOMERS).check("SELECT city FROM crm.customers", ALICE)[0]
    assert decision.may_run, [f.message for f in decision.findings]


@pytest.mark.airflow
def test_airflow_hook_does_not_unmask_after_a_learned_column_list(airflow_home, tmp_path):
    """tests/airflow_dags/lg_redteam.py ``learned_catalog_then_returning``, through DuckDBHook as the run's masked identity."""
    import duckdb

    path = tmp_path / "redteam.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(AIRFLOW_SEED)
    airflow_home.connection("rt_warehouse", conn_type="duckdb", host=str(path))
    run = airflow_home.test("lg_redteam")
    returned = repr(airflow_home.xcom(run, "learned_catalog_then_returning"))
    assert not [value for value in AIRFLOW_RAW if value in returned], f"returned raw values: {returned[:300]}"
