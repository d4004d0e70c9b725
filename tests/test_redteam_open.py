"""Red-team review after issue 13's fixes: attacks that still succeed, one test each.

Every test runs the attack as an attacker would, through the governed paths (``lineage.adapters.dbapi.govern``,
``lineage exec``, the Airflow hook, ``lineage dbt``), on a real PostgreSQL 15 or DuckDB loaded
with tests/masking_fixture.py's synthetic warehouse and tests/data/masking_policy.yaml, and asserts
the SAFE outcome: a masked identity (alice, group analysts) gets no raw classified value back and
a pipeline identity (svc:etl) cannot destroy rows or tables the guardrails protect. A refusal
(``StatementBlocked`` / ``ApprovalRequired``) of any statement of an attack counts as safe.

They FAIL today: each one is an open finding of the red-team report, not a regression test yet.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from lineage.adapters.dbapi import govern
from lineage.governor import ApprovalRequired, StatementBlocked
from lineage.identity.run_identity import RunIdentity

from masking_fixture import ALICE, CUSTOMERS, PAYMENTS, POLICY_PATH, _load, leaked
from masking_fixture import key_env  # noqa: F401  (fixture)

PIPELINE = RunIdentity(principal="svc:etl", groups=("pipelines",))  # no exemption: reads PII masked, runs DDL/DML
REFUSED = (StatementBlocked, ApprovalRequired)
ALICE_SSN = CUSTOMERS[0][3]


# -- the warehouses ---------------------------------------------------------------------------------


@pytest.fixture
def pg_dsn(postgres, key_env):  # noqa: F811
    """A fresh PostgreSQL database holding the synthetic warehouse (attacks change it)."""
    import psycopg

    name = f"redteam_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = postgres.dsn_for(name)
    with psycopg.connect(dsn, autocommit=True) as connection:

        def many(sql: str, rows: list[tuple]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)

        _load(many, connection.execute, CUSTOMERS, PAYMENTS)
    yield dsn
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Session:
    """One governed connection as one identity; ``attempt`` returns rows, or the exception raised."""

    def __init__(self, kind: str, raw, identity: RunIdentity, policy: Path = POLICY_PATH):
        self.kind, self.raw = kind, raw
        self.governed = govern(raw, policy=str(policy), identity=identity, ledger=False)

    def attempt(self, sql: str):
        try:
            if self.kind == "postgres":
                cursor = self.governed.execute(sql)
                return cursor.fetchall() if cursor.description else []
            result = self.governed.execute(sql)
            return result.fetchall() if self.raw.description else []
        except Exception as error:  # a refusal, or the database's own error
            return error

    def raw_rows(self, sql: str) -> list[tuple]:
        """What is really in the database (the test's own look, not the attacker's)."""
        if self.kind == "postgres":
            with self.raw.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        return self.raw.execute(sql).fetchall()


@pytest.fixture
def sessions(request, key_env):  # noqa: F811
    """``open(kind, identity)``: a governed session on a fresh warehouse, PostgreSQL or DuckDB."""
    opened = []

    def open_(kind: str, identity: RunIdentity = ALICE, policy: Path = POLICY_PATH, dsn: str | None = None) -> Session:
        if kind == "postgres":
            import psycopg

            raw = psycopg.connect(dsn or request.getfixturevalue("pg_dsn"), autocommit=True)
        else:
            import duckdb

            raw = duckdb.connect()
            _load(lambda sql, rows: raw.executemany(sql, rows), raw.execute, CUSTOMERS, PAYMENTS)
        opened.append(raw)
        return Session(kind, raw, identity, policy)

    yield open_
    for raw in opened:
        raw.close()


def refused_or_clean(outcome, what: str) -> None:
    """Safe: the statement was refused, or what came back holds no raw classified value."""
    if isinstance(outcome, REFUSED):
        return
    found = leaked(outcome if not isinstance(outcome, Exception) else str(outcome))
    assert not found, f"{what}: raw classified values came back: {sorted(found)[:4]}"


BOTH = pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])


# == masking: raw values for a masked identity =======================================================

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


# 2. Renaming a protected table is refused (schema_change) unless one name is a dbt swap name:
#    x__dbt_backup / x__dbt_tmp are exempt and are not covered by the classification.
@BOTH
@pytest.mark.parametrize("swap_name", ["customers__dbt_backup", "leak__dbt_tmp"])
def test_renaming_a_protected_table_to_a_dbt_swap_name_does_not_unmask_it(sessions, kind, swap_name):
    session = sessions(kind)
    if isinstance(session.attempt(f"ALTER TABLE crm.customers RENAME TO {swap_name}"), REFUSED):
        return
    refused_or_clean(session.attempt(f"SELECT full_name, email, ssn, salary FROM crm.{swap_name}"), f"read of crm.{swap_name}")


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


# 4. COPY ... FROM PROGRAM / FROM a file is no finding for anyone: a shell command on the database
#    server runs an ungoverned query (PostgreSQL; needs superuser or pg_execute_server_program), and
#    on DuckDB (in the pipeline's own process) a file such as the masking key file is read.
@pytest.mark.postgres
def test_copy_from_program_does_not_run_an_ungoverned_query(sessions, pg_dsn, postgres):
    if shutil.which("psql") is None:
        pytest.skip("psql is needed to show what the program reads")
    session = sessions("postgres", dsn=pg_dsn)
    assert not isinstance(session.attempt("CREATE TABLE public.loot (line text)"), Exception)
    database = pg_dsn.rsplit("/", 1)[-1]
    program = f'psql -h 127.0.0.1 -p {postgres.port} -U postgres -d {database} -Atc "select ssn || email from crm.customers"'
    copied = session.attempt(f"COPY public.loot FROM PROGRAM '{program}'")
    if isinstance(copied, REFUSED):
        return
    refused_or_clean(session.attempt("SELECT line FROM public.loot"), "rows copied from a program")


def test_copy_from_a_file_does_not_read_the_masking_key_on_duckdb(sessions, tmp_path):
    key = "redteam-master-key-0123456789abcdef"
    key_file = tmp_path / "masking.key"
    key_file.write_text(key + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_PATH.read_text().replace("hash_key: {env: LINEAGE_TEST_MASKING_KEY}", f"hash_key: {{file: {key_file}}}"))
    session = sessions("duckdb", policy=policy)
    assert not isinstance(session.attempt("SELECT full_name FROM crm.customers"), Exception)  # hashed with the file's key
    session.attempt("CREATE TABLE loot (line VARCHAR)")
    copied = session.attempt(f"COPY loot FROM '{key_file}' (DELIMITER '|', HEADER false)")
    if isinstance(copied, REFUSED):
        return
    rows = session.attempt("SELECT line FROM loot")
    assert key not in repr(rows), "the masked identity read the master key of the keyed masks"


# 5. DML on the system catalogs is judged as DML on an ordinary table (as superuser it runs):
#    renaming a protected table, or its schema, through pg_class / pg_namespace unmasks it.
CATALOG_RENAMES = [
    ("UPDATE pg_catalog.pg_class SET relname = 'loot' WHERE oid = 'crm.customers'::regclass", "crm.loot"),
    ("UPDATE pg_catalog.pg_namespace SET nspname = 'crm2' WHERE nspname = 'crm'", "crm2.customers"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("rename, table", CATALOG_RENAMES)
def test_writes_to_the_system_catalogs_do_not_unmask_a_protected_table(sessions, rename, table):
    session = sessions("postgres")
    if isinstance(session.attempt(rename), REFUSED):
        return
    refused_or_clean(session.attempt(f"SELECT email, ssn FROM {table}"), f"read of {table}")


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


# 9. Integrity: a masked identity overwrites the raw values of a protected table with masked ones
#    (a whole-table upsert, which is also an UPDATE of every row without any WHERE).
@BOTH
def test_a_masked_identity_cannot_overwrite_raw_values_with_masked_ones(sessions, kind):
    session = sessions(kind)
    session.attempt("INSERT INTO crm.customers SELECT * FROM crm.customers ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn, email = excluded.email")
    stored = session.raw_rows("SELECT ssn FROM crm.customers WHERE id = 1")
    assert stored == [(ALICE_SSN,)], f"the raw SSN was overwritten: {stored}"


# == guardrails: destructive statements of a pipeline identity ========================================

def _orders(session: Session) -> list[tuple]:
    return session.raw_rows("SELECT count(*), count(amount), count(status), sum(amount) FROM crm.orders")



# 10. drop_table and rename exempt dbt's swap names: any table is renamed to one, then dropped.
@BOTH
def test_a_table_cannot_be_dropped_by_renaming_it_to_a_dbt_swap_name_first(sessions, kind):
    session = sessions(kind, PIPELINE)
    session.attempt("ALTER TABLE crm.orders RENAME TO orders__dbt_backup")
    session.attempt("DROP TABLE crm.orders__dbt_backup")
    tables = session.raw_rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm' ORDER BY 1")
    assert ("orders",) in tables, f"crm.orders is gone: {tables}"


# 11. Statements that change every row without being a DELETE/UPDATE/TRUNCATE the rules read.
EVERY_ROW = [
    # ALTER COLUMN ... TYPE <same type> USING <constant>: warn only ("widens"), wipes the column
    "ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(10,2) USING NULL",
    # an upsert of the table onto itself: an UPDATE of every row
    "INSERT INTO crm.orders SELECT * FROM crm.orders ON CONFLICT (id) DO UPDATE SET amount = 0, status = NULL",
    # conditions true for every value of the column's type (as id >= -2147483648, which is caught)
    "DELETE FROM crm.orders WHERE id <> 1.5",
    "DELETE FROM crm.orders WHERE id NOT IN (0.5)",
    "DELETE FROM crm.orders WHERE id <> 2147483648",
    "DELETE FROM crm.orders WHERE id::bigint < 9999999999",
    "DELETE FROM crm.orders WHERE amount >= -99999999.99",
    "UPDATE crm.orders SET status = NULL WHERE id <> 1.5",
]


@BOTH
@pytest.mark.parametrize("statement", EVERY_ROW)
def test_a_statement_that_changes_every_row_is_refused(sessions, kind, statement):
    session = sessions(kind, PIPELINE)
    before = _orders(session)
    session.attempt(statement)
    assert _orders(session) == before, f"{statement!r} changed every row of crm.orders"


DUCKDB_EVERY_ROW = [
    "CREATE OR REPLACE TABLE crm.orders AS SELECT * FROM crm.orders WHERE false",  # a TRUNCATE
    "CREATE OR REPLACE TABLE crm.orders (id INTEGER, customer_id INTEGER, amount DECIMAL(10,2), status VARCHAR)",
    "INSERT OR REPLACE INTO crm.orders SELECT id, NULL, NULL, NULL FROM crm.orders",  # an UPDATE of every row
]


@pytest.mark.parametrize("statement", DUCKDB_EVERY_ROW)
def test_duckdb_replacing_a_table_or_every_row_is_refused(sessions, statement):
    session = sessions("duckdb", PIPELINE)
    before = _orders(session)
    session.attempt(statement)
    assert _orders(session) == before, f"{statement!r} emptied or rewrote crm.orders"


@pytest.mark.postgres
def test_deleting_from_the_system_catalogs_is_refused(sessions):
    session = sessions("postgres", PIPELINE)
    session.attempt("DELETE FROM pg_catalog.pg_class WHERE oid = 'crm.orders'::regclass")
    assert session.raw_rows("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'orders'") == [(1,)], "crm.orders was deleted from pg_class"

