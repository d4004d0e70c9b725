"""A WITH RECURSIVE CTE's own name outside the recursive term of its UNION: DuckDB binds it to the
table of that name (PostgreSQL refuses the statement), while sqlglot's scopes and the masking rewrite
would take it for the CTE. Such a statement is refused (opaque_statement, reason
recursive_self_reference) with a message saying to rename the CTE; a self-reference in the recursive
term is the CTE in every dialect and runs as before."""

from __future__ import annotations

import pytest

from lineage.decide.engine import Engine
from lineage.policy import load_policy

from redteam_support import ALICE, POLICY_PATH, REFUSED, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)

RECURSIVE_SHADOWS = [
    "WITH RECURSIVE customers AS (SELECT full_name, email, ssn FROM customers) SELECT * FROM customers",
    "WITH RECURSIVE customers AS (SELECT ssn FROM customers UNION SELECT ssn FROM customers) SELECT * FROM customers",
]


@pytest.mark.parametrize("setup", ["SET search_path = 'crm'", "USE memory.crm"])
@pytest.mark.parametrize("query", RECURSIVE_SHADOWS)
def test_a_recursive_cte_named_like_a_protected_table_reads_it_masked_on_duckdb(sessions, setup, query):  # noqa: F811
    session = sessions("duckdb")
    if isinstance(session.attempt(setup), REFUSED):
        return
    refused_or_clean(session.attempt(query), query)


@pytest.mark.parametrize("query", RECURSIVE_SHADOWS)
def test_the_refusal_says_to_rename_the_cte(query, key_env):  # noqa: F811
    decision = Engine(load_policy(POLICY_PATH), dialect="duckdb").check(query, ALICE)[0]
    assert not decision.may_run
    messages = [f.message for f in decision.findings if f.detail.get("reason") == "recursive_self_reference"]
    assert messages and "rename the CTE" in messages[0], [f.message for f in decision.findings]


def test_a_self_reference_in_the_recursive_term_is_the_cte_and_runs(sessions):  # noqa: F811
    session = sessions("duckdb")
    rows = session.attempt("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT n FROM t ORDER BY n")
    assert rows == [(1,), (2,), (3,)], rows


@pytest.mark.dbt
def test_dbt_preflight_refuses_a_recursive_cte_that_reads_a_classified_table_raw(tmp_path):
    """The pre-flight would see no read of raw.raw_customers, so nothing refuses the raw read."""
    from dbt_runs import Warehouse, governed, raw_values
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
