"""What `lineage correlate` may attribute without a comment: catalog-only statements, by allowlist."""

from __future__ import annotations

import pytest

from lineage.evidence.catalog_lookup import is_catalog_lookup
from lineage.evidence.correlate import comparable_fingerprint, comparable_fingerprints

CATALOG = [
    "SELECT CURRENT_SCHEMA;",  # the OpenLineage provider's default schema
    "SELECT information_schema.columns.table_schema, information_schema.columns.udt_name FROM information_schema.columns "
    "WHERE information_schema.columns.table_schema = 'raw' AND information_schema.columns.table_name IN ('customers')",
    "select pg_catalog.version()", "select current_schema()", "show standard_conforming_strings",  # SQLAlchemy's probes
    "select CAST('test plain returns' AS VARCHAR(60)) AS anon_1", "select current_setting('server_version_num')",
    "select n.nspname from pg_namespace n join pg_class c on c.relnamespace = n.oid where c.relname = 'x'",
]
NOT_CATALOG = [
    "select ssn from crm.customers", "select * from pg_secret", "select * from information_schema.columns, crm.customers",
    "select (select ssn from crm.customers limit 1)", "delete from pg_catalog.pg_class", "set search_path to x",
    "select * from generate_series(1, 10)", "with x as (select 1) select * from x", "select pg_read_file('/etc/passwd')",
    "select pg_sleep(10)", "select lo_export(1, '/tmp/x')", "begin", "not sql at all (",
]


@pytest.mark.parametrize("sql", CATALOG)
def test_catalog_lookups(sql):
    assert is_catalog_lookup(sql, "postgres")


@pytest.mark.parametrize("sql", NOT_CATALOG)
def test_everything_else_is_not(sql):
    assert not is_catalog_lookup(sql, "postgres")


def test_client_side_binding_does_not_change_the_comparable_fingerprint():
    logged = "INSERT INTO raw.events (id, day, note, flag, delta) VALUES (?, CAST(? AS DATE), NULL, TRUE, -?), (?, CAST(? AS DATE), ?, FALSE, ?)"
    recorded = "INSERT INTO raw.events (id, day, note, flag, delta) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)"
    assert comparable_fingerprint(logged, "postgres") == comparable_fingerprint(recorded, "postgres")
    # a cast of a column is part of the statement, not a value
    assert comparable_fingerprint("SELECT CAST(a AS INT) FROM t", "postgres") != comparable_fingerprint("SELECT a FROM t", "postgres")
    both = comparable_fingerprints("CREATE TABLE t (a INT); INSERT INTO t (a) SELECT a FROM s", "postgres")
    assert both == (comparable_fingerprint("CREATE TABLE t (a INT)", "postgres"), comparable_fingerprint("INSERT INTO t (a) SELECT a FROM s", "postgres"))
