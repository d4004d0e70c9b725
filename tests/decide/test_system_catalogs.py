"""Writes to the system catalogs are refused by a rule of their own (``system_catalog_write``):
``UPDATE pg_class SET relname = ...`` renames a protected table, or its schema, behind every
guardrail and classification, and ``DELETE FROM pg_class`` drops a table without a DROP."""

from __future__ import annotations

import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action
from lineage.policy import PolicyError, load_policy_text

from redteam_support import PIPELINE, REFUSED, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)

ETL = RunIdentity(principal="svc:etl", environment="prod")

CATALOG_WRITES = [
    "UPDATE pg_catalog.pg_class SET relname = 'loot' WHERE oid = 'crm.customers'::regclass",
    "UPDATE pg_catalog.pg_namespace SET nspname = 'crm2' WHERE nspname = 'crm'",
    "DELETE FROM pg_catalog.pg_class WHERE oid = 'crm.orders'::regclass",
    "DELETE FROM pg_class WHERE relname = 'orders'",  # unqualified: pg_catalog is searched first
    "INSERT INTO pg_catalog.pg_namespace (nspname) VALUES ('x')",
    "MERGE INTO pg_catalog.pg_class AS c USING crm.orders AS o ON c.oid = o.id WHEN MATCHED THEN DELETE",
    "UPDATE information_schema.tables SET table_name = 'x' WHERE table_name = 'customers'",
    "ALTER TABLE pg_catalog.pg_class RENAME TO pg_class_old",
    "DROP TABLE information_schema.tables",
    "TRUNCATE pg_catalog.pg_class",
    "CREATE TABLE pg_catalog.shadow (id int)",
    "CREATE INDEX pg_class_leak ON pg_catalog.pg_class (relname)",
]


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
@pytest.mark.parametrize("sql", CATALOG_WRITES)
def test_every_write_to_a_system_catalog_is_refused_by_its_own_rule(catalog, sql, dialect):
    decision = Engine(load_policy_text("mode: enforce\n"), catalog, dialect=dialect).check(sql, ETL)[0]
    assert "system_catalog_write" in [finding.rule for finding in decision.findings], decision.to_dict()
    assert decision.action == Action.BLOCK and not decision.may_run
    finding = next(finding for finding in decision.findings if finding.rule == "system_catalog_write")
    assert "system catalog" in finding.message and "never governed" in finding.message


def test_the_policy_cannot_lower_the_system_catalog_rule():
    with pytest.raises(PolicyError, match="system_catalog_write cannot be lowered below block"):
        load_policy_text("guardrails:\n  - rule: system_catalog_write\n    action: allow\n")


def test_duckdb_system_catalog_writes_are_refused(catalog):
    engine = Engine(load_policy_text("mode: enforce\n"), catalog, dialect="duckdb")
    decision = engine.check("INSERT INTO system.main.t VALUES (1)", ETL)[0]
    assert "system_catalog_write" in [finding.rule for finding in decision.findings]


@pytest.mark.parametrize("sql", [
    "UPDATE crm.orders SET amount = 1 WHERE id = 1",
    "DELETE FROM crm.orders WHERE id = 1",
    "CREATE TABLE staging.pgish (id int)",
])
def test_ordinary_tables_are_no_system_catalog(catalog, sql):
    decision = Engine(load_policy_text("mode: enforce\n"), catalog).check(sql, ETL)[0]
    assert "system_catalog_write" not in [finding.rule for finding in decision.findings]


# the attacks, end to end on a real PostgreSQL (the test server's role is a superuser: they would run)
CATALOG_RENAMES = [
    ("UPDATE pg_catalog.pg_class SET relname = 'loot' WHERE oid = 'crm.customers'::regclass", "crm.loot"),
    ("UPDATE pg_catalog.pg_namespace SET nspname = 'crm2' WHERE nspname = 'crm'", "crm2.customers"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("rename, table", CATALOG_RENAMES)
def test_writes_to_the_system_catalogs_do_not_unmask_a_protected_table(sessions, rename, table):
    session = sessions("postgres")
    assert isinstance(session.attempt(rename), REFUSED)
    refused_or_clean(session.attempt(f"SELECT email, ssn FROM {table}"), f"read of {table}")


@pytest.mark.postgres
def test_deleting_from_the_system_catalogs_is_refused(sessions):
    session = sessions("postgres", PIPELINE)
    assert isinstance(session.attempt("DELETE FROM pg_catalog.pg_class WHERE oid = 'crm.orders'::regclass"), REFUSED)
    assert session.raw_rows("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'orders'") == [(1,)], "crm.orders was deleted from pg_class"
