"""Great Expectations evidence: classified columns outside their zones hold no raw-looking values."""

from __future__ import annotations

import json

import duckdb
import psycopg
import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.classify import Classifier
from lineage.policy import load_policy_text
from lineage.evidence.verify_masking import verify_duckdb, verify_postgres

POLICY = load_policy_text(
    """
classifications:
  - table: "*.customers"
    columns: {email: pii.email, ssn: pii.ssn, phone: pii.phone, nickname: pii.nickname}
masking:
  verify_patterns: {pii.nickname: "^[a-z]+$"}
zones:
  - {tags: ["pii.*"], allowed: ["raw.*"]}
"""
)
ROWS = [
    # (email, ssn, phone, nickname) masked the way the strategies mask them
    ("****@example.com", "***-**-6789", "**********12", "****"),
    (None, None, None, None),
]
LEAK = ("ann.lee@example.com", "123-45-6789", "+1 415 555 0100", "annie")


def load(connection, rows, placeholder="?"):
    connection.execute("create schema raw; create schema mart")
    for schema in ("raw", "mart"):
        connection.execute(f"create table {schema}.customers (id int, email text, ssn text, phone text, nickname text)")
    for index, row in enumerate(rows):
        marks = ", ".join([placeholder] * 5)
        connection.execute(f"insert into mart.customers values ({marks})", [index, *row])
        connection.execute(f"insert into raw.customers values ({marks})", [index, *LEAK])


def by_column(result):
    return {(check.table.split(".")[-2], check.column): (check.success, check.unexpected) for check in result.checks}


def test_duckdb_masked_mart_passes_and_a_leak_fails():
    connection = duckdb.connect()
    load(connection, ROWS)
    classifier = Classifier.from_policy(POLICY.policy)
    result = verify_duckdb(connection, POLICY.policy, classifier)
    assert result.success, result.to_dict()
    # raw.* is an allowed zone: its raw values are not checked
    assert {schema for schema, _ in by_column(result)} == {"mart"}
    assert len(result.checks) == 4
    connection.execute("insert into mart.customers values (9, ?, ?, ?, ?)", list(LEAK))
    leaked = verify_duckdb(connection, POLICY.policy, classifier)
    assert not leaked.success
    assert by_column(leaked) == {("mart", c): (False, 1) for c in ("email", "ssn", "phone", "nickname")}
    assert "ann.lee@example.com" not in str(leaked.to_dict())  # counts only, never values


@pytest.mark.postgres
def test_postgres_through_the_sql_datasource(postgres):
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute("drop database if exists verify_masking")
        admin.execute("create database verify_masking")
    dsn = postgres.dsn_for("verify_masking")
    with psycopg.connect(dsn, autocommit=True) as connection:
        load(connection, ROWS, "%s")
    classifier = Classifier.from_policy(POLICY.policy)
    result = verify_postgres(dsn, POLICY.policy, classifier)
    assert result.success and len(result.checks) == 4, result.to_dict()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("insert into mart.customers values (9, %s, %s, %s, %s)", list(LEAK))
    leaked = verify_postgres(dsn, POLICY.policy, classifier)
    assert not leaked.success
    assert by_column(leaked)[("mart", "ssn")] == (False, 1)


def test_cli_exit_codes(cli, tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as connection:
        load(connection, ROWS)
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(POLICY.raw)
    events = tmp_path / "events.jsonl"
    ok = cli("verify-masking", "--dsn", f"duckdb:///{path}", "--policy", str(policy), "--format", "json", "--events", str(events), "--ledger", str(tmp_path / "ledger.db"))
    assert ok.code == 0 and ok.json()["success"]
    from lineage.deliver.validate import validate_lines
    from lineage.record import open_ledger

    assert validate_lines(events.read_text().splitlines()) == []
    complete = [json.loads(line) for line in events.read_text().splitlines()][-1]
    assertions = complete["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert {a["column"] for a in assertions} == {"email", "ssn", "phone", "nickname"} and all(a["success"] for a in assertions)
    entries = list(open_ledger(tmp_path / "ledger.db").entries())
    assert entries[-1].body["kind"] == "masking_verification" and entries[-1].body["payload"]["success"] is True
    with duckdb.connect(str(path)) as connection:
        connection.execute("insert into mart.customers values (9, ?, ?, ?, ?)", list(LEAK))
    leaked = cli("verify-masking", "--dsn", f"duckdb:///{path}", "--policy", str(policy))
    assert leaked.code == 1 and "RAW  w.mart.customers.ssn" in leaked.out


def test_columns_derived_from_classified_ones_are_checked_through_the_ledger(tmp_path):
    """A mart column copied from raw.customers.email carries pii.email: verify-masking finds it
    through the ledger's record of the statement, without the policy classifying the mart."""
    from lineage.cli.verify import verify
    from lineage.adapters.dbapi import govern
    from lineage.identity.run_identity import RunIdentity
    from lineage.record import open_ledger

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as connection:
        load(connection, ROWS)
        ledger = open_ledger(tmp_path / "ledger.db")
        # an identity exempt from masking, under a policy without zones, copies raw emails to the mart
        lax = load_text("classifications: [{table: raw.customers, columns: {email: pii.email}}]\nmasking: {unmasked_for: [{group: dpo}]}\n")
        officer = RunIdentity(principal="dana", groups=("dpo",))
        governed = govern(connection, policy=lax, identity=officer, ledger=ledger)
        governed.execute("create table mart.contacts as select id, lower(email) as contact from raw.customers")
    strict = load_text("classifications: [{table: raw.customers, columns: {email: pii.email}}]\nzones: [{tags: [pii.email], allowed: [raw.*]}]\n")
    result, _ = verify(f"duckdb:///{path}", strict, ledger=ledger)
    leaked = {(check.table, check.column): check.success for check in result.checks}
    assert leaked == {("w.mart.contacts", "contact"): False}
    without_ledger, _ = verify(f"duckdb:///{path}", strict)
    assert without_ledger.checks == []  # the policy alone does not know the mart column carries emails


def load_text(text):
    from lineage.policy import load_policy_text

    return load_policy_text(text)
