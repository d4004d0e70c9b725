"""Issue 13's masking leaks, class by class, on real PostgreSQL 15 as the masked identity.

DML targets read through whole rows and attribute notation, DDL that evaluates expressions
over stored rows, a CTE named like the DML target, functions that are not value functions,
introspection of the statement's own text (and the key material in it), the server's error
text, COPY. Each statement is decided by the engine and, where it may run, run for real: no
raw classified value may come back in rows, row counts, errors or the ledger.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action
from lineage.policy import load_policy_text

from masking_fixture import ALICE, CUSTOMERS, KEY, OFFICER, POLICY_PATH, assert_no_raw, leaked
from masking_fixture import key_env, pg  # noqa: F401  (fixtures)

pytestmark = pytest.mark.postgres

ALICE_1 = CUSTOMERS[0]


def reasons(decision) -> set[str]:
    return {f.detail.get("reason") for f in decision.findings if f.rule == "masking_refused"}


def refused(pg, sql: str, reason: str, identity=ALICE) -> None:
    decision = pg.decide(sql, identity)
    assert decision.action == Action.BLOCK and not decision.may_run, decision.to_dict()
    assert reason in reasons(decision), decision.to_dict()
    for finding in decision.findings:
        assert_no_raw(finding.message)


@pytest.fixture
def rollback(postgres, pg):
    """A connection to the masked warehouse whose changes are rolled back after the test."""
    with psycopg.connect(postgres.dsn_for("masking_raw")) as connection:
        yield connection
        connection.rollback()


# -- 2. the DML target: whole rows and attribute notation --------------------------------------

TARGET_WHOLE_ROWS = [
    "UPDATE crm.customers c SET id = id WHERE id = 1 RETURNING c.to_json",
    "UPDATE crm.customers c SET id = id WHERE c.to_json->>'ssn' = '{ssn}'",
    "UPDATE crm.customers c SET city = c.to_jsonb::text WHERE id = 1",
    "UPDATE crm.customers c SET city = (c).row_to_json::text WHERE id = 1",
    "UPDATE crm.customers SET city = customers::text WHERE id = 1",
    "UPDATE crm.customers c SET id = id WHERE id = 1 RETURNING to_json(c)",
    "UPDATE crm.customers c SET id = id WHERE id = 1 RETURNING c",
    "UPDATE crm.customers c SET id = id FROM crm.orders o WHERE o.customer_id = c.id AND c.hstore IS NOT NULL",
    "DELETE FROM crm.customers c WHERE id = -1 RETURNING c.to_jsonb",
    "DELETE FROM crm.customers c WHERE row_to_json(c)::text LIKE '%{ssn}%'",
    "INSERT INTO crm.customers AS c (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET city = c.to_json::text RETURNING c.city",
    "INSERT INTO crm.customers AS c (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET city = 'x' WHERE c.to_json->>'email' LIKE 'a%'",
    "MERGE INTO crm.customers c USING crm.orders o ON o.customer_id = c.id AND c.to_json->>'ssn' = '{ssn}' WHEN MATCHED THEN UPDATE SET city = city",
    "MERGE INTO crm.customers c USING crm.orders o ON o.customer_id = c.id WHEN MATCHED AND (c).to_jsonb->>'ssn' = '{ssn}' THEN DELETE",
    "WITH u AS (UPDATE crm.customers c SET id = id WHERE id = 2 RETURNING c.to_json) SELECT * FROM u",
    "WITH d AS (DELETE FROM crm.customers c WHERE id = -1 RETURNING c.*::text) SELECT * FROM d",
]


@pytest.mark.parametrize("template", TARGET_WHOLE_ROWS)
def test_whole_rows_of_a_dml_target_are_refused(pg, template):
    refused(pg, template.format(ssn=ALICE_1[3]), "whole_row")


def test_a_whole_row_of_the_target_would_leak(pg, rollback):
    """What the refusal stops is real: PostgreSQL reads c.to_json as to_json(c), the raw row."""
    rows = rollback.execute("UPDATE crm.customers c SET id = id WHERE id = 1 RETURNING c.to_json").fetchall()
    assert ALICE_1[3] in json.dumps(rows)
    count = rollback.execute(f"UPDATE crm.customers c SET id = id WHERE c.to_json->>'ssn' = '{ALICE_1[3]}'").rowcount
    assert count == 1  # a row-count oracle


TARGET_COLUMNS = [
    f"UPDATE crm.customers SET city = 'x' WHERE id = 1 AND ssn = '{ALICE_1[3]}'",
    "UPDATE crm.customers SET city = email WHERE id = 1",
    "UPDATE crm.customers c SET city = o.status FROM crm.orders o WHERE o.customer_id = c.id AND c.ssn LIKE '1%'",
    f"DELETE FROM crm.customers WHERE email = '{ALICE_1[2]}'",
    "INSERT INTO crm.customers AS c (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET city = c.ssn",
    "INSERT INTO crm.customers AS c (id) VALUES (1) ON CONFLICT (id) WHERE c.ssn LIKE '1%' DO NOTHING",
    "MERGE INTO crm.customers c USING crm.orders o ON o.customer_id = c.id WHEN MATCHED AND c.ssn LIKE '1%' THEN UPDATE SET city = 'x'",
    "MERGE INTO crm.customers c USING crm.orders o ON o.customer_id = c.id WHEN MATCHED THEN UPDATE SET city = c.email",
]


@pytest.mark.parametrize("sql", TARGET_COLUMNS)
def test_classified_columns_of_a_dml_target_are_refused(pg, sql):
    refused(pg, sql, "dml_oracle")


def test_returning_from_the_target_is_masked_and_runs(pg, rollback):
    decision = pg.decide("UPDATE crm.customers c SET city = city WHERE id = 1 RETURNING c.*, c.ssn AS s, (SELECT c.email)")
    assert decision.action == Action.MASK, decision.to_dict()
    rows = rollback.execute(decision.sql).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 11
    assert_no_raw(rows)


# -- 5. a CTE named like the DML target ----------------------------------------------------------

def test_a_cte_named_like_the_target_does_not_hide_it(pg, rollback):
    rollback.execute("SET search_path = crm")
    sql = "WITH customers AS (SELECT 1 AS id) UPDATE customers SET id = id WHERE id = 1 RETURNING *"
    raw = rollback.execute(sql).fetchall()
    assert leaked(raw)  # the target is crm.customers, not the CTE: raw without masking
    decision = pg.decide(sql)
    assert decision.action == Action.MASK and decision.sql != sql, decision.to_dict()
    rows = rollback.execute(decision.sql).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 9
    assert_no_raw(rows)


# -- 3. DDL evaluating expressions over stored rows -----------------------------------------------

DDL = [
    "ALTER TABLE crm.customers ADD CONSTRAINT k CHECK ((customers.to_jsonb->>'email')::int > 0)",
    "ALTER TABLE crm.customers ADD CONSTRAINT k CHECK (customers IS NOT NULL)",
    "ALTER TABLE crm.customers ADD CONSTRAINT k CHECK (ssn <> '000-00-0000')",
    "ALTER TABLE crm.customers ADD CONSTRAINT k CHECK (length(customers.to_json::text) < 5) NOT VALID",
    "ALTER TABLE crm.customers ADD COLUMN g text GENERATED ALWAYS AS (ssn || email) STORED",
    "ALTER TABLE crm.customers ADD COLUMN g text GENERATED ALWAYS AS (customers.to_json::text) STORED",
    "ALTER TABLE crm.customers ALTER COLUMN city TYPE text USING customers.to_json::text",
    "ALTER TABLE crm.customers ALTER COLUMN city TYPE int USING length(ssn)",
    "ALTER TABLE crm.customers ALTER COLUMN ssn TYPE integer",
    "CREATE UNIQUE INDEX probe ON crm.customers (email)",
    "CREATE UNIQUE INDEX probe ON crm.customers ((lower(ssn)))",
    "CREATE UNIQUE INDEX probe ON crm.customers (id) WHERE ssn LIKE '1%'",
    "CREATE INDEX probe ON crm.customers (id) INCLUDE (ssn)",
    "CREATE UNIQUE INDEX probe ON crm.customers ((customers.to_json::text))",
    "ALTER TABLE crm.customers ADD CONSTRAINT u UNIQUE (email)",
]


@pytest.mark.parametrize("sql", DDL)
def test_ddl_evaluating_protected_columns_is_refused(pg, sql):
    refused(pg, sql, "schema_change")


def test_ddl_over_stored_rows_would_leak(pg, rollback):
    """The CHECK of the issue: the error echoes the raw email."""
    with pytest.raises(psycopg.Error) as error:
        rollback.execute("ALTER TABLE crm.customers ADD CONSTRAINT k CHECK ((customers.to_jsonb->>'email')::int > 0)")
    assert leaked(str(error.value))


def test_ddl_on_unclassified_columns_still_runs(pg, rollback):
    for sql in ("ALTER TABLE crm.customers ADD CONSTRAINT k CHECK (id > 0 AND city IS NOT NULL)",
                "CREATE INDEX probe ON crm.customers (lower(city)) WHERE segment = 'b2b'"):
        decision = pg.decide(sql)
        assert decision.may_run, decision.to_dict()
        rollback.execute(decision.sql)


# -- 6. functions: an allowlist ---------------------------------------------------------------------

FUNCTIONS = [
    "SELECT database_to_xml_and_xmlschema(true, true, '')",
    "SELECT schema_to_xml_and_xmlschema('crm', true, true, '')",
    "SELECT ts_rewrite('a'::tsquery, concat('SEL', 'ECT ''a''::tsquery, ssn::tsquery FROM crm.customers'))",
    "SELECT crosstab('select 1, 2, 3')",
    "SELECT * FROM xpath_table('id', 'x', 'crm.customers', '/a', 'true') AS t(id int, x text)",
    "SELECT * FROM heap_page_items(get_raw_page('crm.customers', 0))",
    "SELECT current_query()",
    "SELECT id, pg_catalog.current_query() FROM crm.customers",
    "SELECT pg_stat_get_activity(NULL)",
    "SELECT lcase(email) FROM crm.customers",
    'SELECT "LOWER"(email) FROM crm.customers',
    "SELECT public.lower(email) FROM crm.customers",
    "SELECT c.leak FROM crm.customers c",
    "SELECT (c).leak FROM crm.customers c",
    "SELECT o.leak FROM crm.orders o",  # attribute notation on any relation: leak(o)
    "SELECT (o).leak FROM crm.orders o",
    "SELECT pg_read_file('postgresql.conf')",
    "SELECT set_config('search_path', 'crm', false)",
]


@pytest.mark.parametrize("sql", FUNCTIONS)
def test_functions_that_are_not_known_value_functions_are_refused(pg, sql):
    refused(pg, sql, "function")
    decision = pg.decide(sql)
    finding = next(f for f in decision.findings if f.detail.get("reason") == "function")
    assert "allowlist.functions" in finding.message


def test_a_users_function_runs_once_the_policy_lists_it(pg, postgres, key_env):
    pg.execute("CREATE OR REPLACE FUNCTION crm.leak() RETURNS SETOF text LANGUAGE sql AS 'SELECT ssn FROM crm.customers'")
    assert leaked(pg.execute("SELECT crm.leak()"))  # unmasked, inside the function
    refused(pg, "SELECT crm.leak()", "function")
    policy = load_policy_text(POLICY_PATH.read_text() + "allowlist:\n  functions: [crm.leak]\n", str(POLICY_PATH))
    decision = Engine(policy, pg.catalog).check("SELECT crm.leak()", ALICE)[0]
    assert decision.action == Action.ALLOW  # what the policy owners decided: their risk, named in the policy


INTROSPECTION = [
    ("SELECT query FROM pg_stat_activity", "system_relation"),
    ("SELECT query FROM pg_catalog.pg_stat_activity", "system_relation"),
    ("SELECT statement FROM pg_prepared_statements", "system_relation"),
    ("SELECT * FROM pg_catalog.pg_cursors", "system_relation"),
    ("EXPLAIN (VERBOSE) SELECT full_name FROM crm.customers", "introspection"),
    ("EXPLAIN (ANALYZE, VERBOSE) SELECT id FROM crm.customers", "introspection"),
    ("EXPLAIN (VERBOSE) SELECT 1", "introspection"),
]


@pytest.mark.parametrize("sql,reason", INTROSPECTION)
def test_introspection_of_statement_texts_is_refused(pg, sql, reason):
    refused(pg, sql, reason)


def test_catalog_metadata_stays_readable(pg):
    for sql in ("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'crm'",
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'crm'"):
        decision, rows = pg.run(sql)
        assert decision.action == Action.ALLOW and rows, decision.to_dict()


# -- 7. key material ----------------------------------------------------------------------------------

def test_key_material_in_the_sql_is_never_shown_to_the_masked_session(pg):
    """masking.hash_key from the environment: the pads stand in the SQL; nothing that would show
    that SQL runs (the statement's own text, plans of keyed masks, stored view definitions)."""
    for sql in ("SELECT full_name, current_query() FROM crm.customers",
                "EXPLAIN SELECT id FROM crm.customers WHERE full_name = 'x'",
                "EXPLAIN ANALYZE SELECT full_name FROM crm.customers",
                "CREATE VIEW mart.keyed AS SELECT id, full_name FROM crm.customers",
                "CREATE VIEW mart.keyed AS SELECT * FROM crm.customers"):
        decision = pg.decide(sql)
        assert decision.action == Action.BLOCK, (sql, decision.to_dict())
    # a view that reads no keyed column keeps no key material: the hashed column is left out
    pg.execute("DROP VIEW IF EXISTS mart.unkeyed")
    decision, _ = pg.run("CREATE VIEW mart.unkeyed AS SELECT id, email, ssn FROM crm.customers")
    assert decision.action == Action.MASK
    definition = pg.execute("SELECT pg_get_viewdef('mart.unkeyed')")[0][0]
    assert "sha256" not in definition.lower() and "decode" not in definition.lower()
    assert_no_raw(pg.execute("SELECT * FROM mart.unkeyed"))
    # the plan of a statement that reads no keyed column runs
    decision, rows = pg.run("EXPLAIN SELECT id FROM crm.customers WHERE ssn = 'x'")
    assert decision.action == Action.MASK and not isinstance(rows, str)


@pytest.fixture
def installed(postgres, pg, key_env):
    """The key installed in masking_raw (imported, so hashes equal the env key's) and a pipeline role."""
    from lineage.mask.install import install

    with psycopg.connect(postgres.dsn_for("masking_raw"), autocommit=True) as admin:
        done = install(admin, "lineage_mask", KEY.encode(), rotate=True)
        admin.execute("DROP ROLE IF EXISTS lg_pipeline")
        admin.execute("CREATE ROLE lg_pipeline LOGIN")
        admin.execute("GRANT USAGE ON SCHEMA crm, mart TO lg_pipeline")
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA crm TO lg_pipeline")
    policy = load_policy_text(POLICY_PATH.read_text().replace("hash_key: {env: LINEAGE_TEST_MASKING_KEY}", "hash_key: {database: lineage_mask}"), str(POLICY_PATH))
    yield done, Engine(policy, pg.catalog)
    with psycopg.connect(postgres.dsn_for("masking_raw"), autocommit=True) as admin:
        admin.execute("DROP OWNED BY lg_pipeline")
        admin.execute("DROP ROLE lg_pipeline")


def test_installed_keys_keep_key_material_out_of_the_sql_and_hash_alike(pg, postgres, installed):
    done, engine = installed
    assert done.readers == ("postgres",)
    sql = "SELECT id, full_name, ssn FROM crm.customers ORDER BY id"
    decision = engine.check(sql, ALICE)[0]
    assert decision.action == Action.MASK and "lineage_mask.hmac_sha256_hex" in decision.sql.lower()
    env_decision = pg.decide(sql)
    pads = [literal for literal in env_decision.sql.split("'") if len(literal) == 128]
    assert pads and not any(pad in decision.sql for pad in pads)  # the env key's pads, absent here
    with psycopg.connect(postgres.dsn_for("masking_raw", user="lg_pipeline"), autocommit=True) as pipeline:
        rows = pipeline.execute(decision.sql).fetchall()
        assert rows == pg.execute(env_decision.sql)  # the same hashes as with the key in the SQL
        assert_no_raw(rows)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pipeline.execute("SELECT * FROM lineage_mask.master_key")
    # plans and views may show the SQL now: it holds no key
    assert engine.check("EXPLAIN SELECT id FROM crm.customers WHERE full_name = 'x'", ALICE)[0].action == Action.MASK
    assert engine.check("CREATE VIEW mart.keyed AS SELECT * FROM crm.customers", ALICE)[0].action == Action.MASK
    # the function itself is no value function a masked identity may call on values of its choice
    refused_call = engine.check("SELECT lineage_mask.hmac_sha256_hex('123-45-6789', 'hash', 'pii.ssn')", ALICE)[0]
    assert refused_call.action == Action.BLOCK and "function" in reasons(refused_call)


def test_a_policy_cannot_open_the_key_functions():
    with pytest.raises(Exception, match="stay closed"):
        load_policy_text(POLICY_PATH.read_text().replace("hash_key: {env: LINEAGE_TEST_MASKING_KEY}", "hash_key: {database: lineage_mask}")
                         + "allowlist:\n  functions: [lineage_mask.hmac_sha256_hex]\n")


def test_installed_keys_are_refused_on_duckdb(key_env):
    from lineage.decide.catalog import Catalog

    policy = load_policy_text(POLICY_PATH.read_text().replace("hash_key: {env: LINEAGE_TEST_MASKING_KEY}", "hash_key: {database: lineage_mask}"), str(POLICY_PATH))
    catalog = Catalog.from_mapping({"crm": {"customers": {"id": "INTEGER", "full_name": "VARCHAR"}}}, dialect="duckdb")
    decision = Engine(policy, catalog, dialect="duckdb").check("SELECT full_name FROM crm.customers", ALICE)[0]
    assert decision.action == Action.BLOCK and reasons(decision) == {"hash_key"}
    assert "no roles" in next(f.message for f in decision.findings if f.rule == "masking_refused")


def test_lineage_masking_install_cli(cli, postgres, pg, monkeypatch):
    monkeypatch.setenv("LG_IMPORTED_KEY", KEY)
    dsn = postgres.dsn_for("masking_raw")
    result = cli("masking", "install", "--dsn", dsn, "--key-env", "LG_IMPORTED_KEY", "--rotate")
    assert result.code == 0, result.err
    assert "imported" in result.out or "rotated" in result.out
    assert "{database: lineage_mask}" in result.out
    again = cli("masking", "install", "--dsn", dsn)
    assert again.code == 0 and "kept" in again.out  # idempotent: an installed key stays
    assert cli("masking", "install", "--dsn", "duckdb:///tmp/x.duckdb").code == 2
    assert cli("masking", "install", "--dsn", dsn, "--key-env", "LG_NO_SUCH_VARIABLE").code == 2


# -- 8. the server's error text ------------------------------------------------------------------------

def test_server_errors_lose_their_details_for_a_masked_identity(postgres, pg, tmp_path, key_env, request):
    from lineage.adapters.dbapi import govern
    from lineage.record import open_ledger

    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    sql = "UPDATE crm.customers SET id = NULL WHERE id = 1"
    with psycopg.connect(postgres.dsn_for("masking_raw")) as raw:
        with pytest.raises(psycopg.Error) as error:
            raw.execute(sql)
        assert leaked(error.value.diag.message_detail)  # Failing row contains (...): raw
    governed = govern(psycopg.connect(postgres.dsn_for("masking_raw")), policy=str(POLICY_PATH), identity=ALICE, ledger=ledger)
    # closed here, not whenever the collector frees the raised errors' frames: the next module drops the database
    request.addfinalizer(governed.raw_connection.close)
    with pytest.raises(psycopg.errors.NotNullViolation) as error:  # the driver's type, kept
        governed.execute(sql)
    assert_no_raw(str(error.value))
    assert error.value.diag.message_detail is None
    assert error.value.__context__ is None and error.value.__cause__ is None
    assert "withheld" in str(error.value)
    assert_no_raw(json.dumps([entry.body for entry in ledger.entries()]))
    governed.raw_connection.rollback()
    # the privacy officer sees the database's own error
    officer = govern(psycopg.connect(postgres.dsn_for("masking_raw")), policy=str(POLICY_PATH), identity=OFFICER, ledger=False)
    request.addfinalizer(officer.raw_connection.close)
    with pytest.raises(psycopg.errors.NotNullViolation) as error:
        officer.execute(sql)
    assert leaked(error.value.diag.message_detail)


# -- COPY: masked, not refused ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["COPY crm.customers TO STDOUT", "COPY crm.customers (ssn, email, id) TO STDOUT WITH (FORMAT csv)",
                                 "COPY (SELECT ssn, email FROM crm.customers) TO STDOUT"])
def test_copy_to_stdout_is_masked(pg, postgres, sql):
    decision = pg.decide(sql)
    assert decision.action == Action.MASK, decision.to_dict()
    with psycopg.connect(postgres.dsn_for("masking_raw")) as connection:
        with connection.cursor().copy(decision.sql) as copy:
            data = b"".join(bytes(block) for block in copy).decode()
    assert data.count("\n") == len(CUSTOMERS)
    assert_no_raw(data)


def test_copy_to_a_file_is_copy_out(pg):
    decision = pg.decide("COPY crm.customers TO '/tmp/customers.csv'")
    assert decision.action == Action.BLOCK and [f.rule for f in decision.findings] == ["copy_out"]
    assert "(SELECT" in decision.sql  # and masked, should a policy allow copy_out
