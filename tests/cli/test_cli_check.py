"""``lineage check`` / ``explain``: the JSON contract, exit codes, SQL sources and catalogs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def check(cli, policy_path, catalog_path, *args, stdin=None):
    return cli("check", "--policy", str(policy_path), "--catalog", str(catalog_path), "--format", "json", *args, stdin=stdin)


def test_json_contract(cli, policy_path, catalog_path):
    result = check(cli, policy_path, catalog_path, "--env", "prod", "--sql", "DROP TABLE analytics.public.orders")
    assert result.code == 1
    payload = result.json()
    assert payload["policy_version"].startswith("sha256:") and len(payload["policy_version"]) == 71
    assert payload["mode"] == "enforce"
    statement = payload["statements"][0]
    for key, kind in {"index": int, "action": str, "sql": str, "kind": str, "reads": list, "writes": list,
                      "column_lineage": dict, "masked_columns": list, "findings": list}.items():
        assert isinstance(statement[key], kind), key
    assert statement["index"] == 0
    assert statement["action"] == "block"
    assert statement["kind"] == "drop_table"
    assert statement["writes"] == ["analytics.public.orders"]
    assert statement["findings"] == [
        {"rule": "drop_table", "action": "block", "message": "drops table analytics.public.orders", "object": "analytics.public.orders"}
    ]


def test_column_lineage_keys_are_fully_qualified(cli, policy_path, catalog_path):
    result = check(cli, policy_path, catalog_path, "--sql", "INSERT INTO staging.contacts SELECT id, email FROM crm.customers")
    statement = result.json()["statements"][0]
    assert statement["column_lineage"] == {
        "analytics.staging.contacts.id": ["analytics.crm.customers.id"],
        "analytics.staging.contacts.email": ["analytics.crm.customers.email"],
    }


@pytest.mark.parametrize(
    "sql,code",
    [
        ("SELECT id FROM crm.orders", 0),
        ("SELECT * FROM crm.customers; SELECT 1", 0),  # warn only
        ("DELETE FROM crm.orders", 1),
        ("ALTER TABLE crm.customers DROP COLUMN age", 3),
        ("ALTER TABLE crm.customers DROP COLUMN age; TRUNCATE crm.orders", 1),  # a block wins over approval
        ("SELEC 1", 1),
    ],
)
def test_exit_codes(cli, policy_path, catalog_path, sql, code):
    assert check(cli, policy_path, catalog_path, "--sql", sql).code == code


def test_exit_code_2_for_bad_input(cli, policy_path, catalog_path, tmp_path):
    bad_catalog = tmp_path / "catalog.json"
    bad_catalog.write_text('{"crm": {"customers": ["id", "email"]}}')
    result = cli("check", "--catalog", str(bad_catalog), "--sql", "select 1")
    assert result.code == 2 and f"{bad_catalog}:1:23: crm.customers: expected an object" in result.err
    not_json = tmp_path / "x.json"
    not_json.write_text("{nope")
    result = cli("check", "--catalog", str(not_json), "--sql", "select 1")
    assert result.code == 2 and f"{not_json}:1:2: not JSON" in result.err
    result = cli("check", "--dialect", "klingon", "--sql", "select 1")
    assert result.code == 2 and "unknown SQL dialect 'klingon'" in result.err
    result = cli("check", "--policy", str(tmp_path / "none.yaml"), "--sql", "select 1")
    assert result.code == 2 and "none.yaml" in result.err
    result = cli("check", "--bogus")
    assert result.code == 2


def test_audit_mode_exits_0_and_reports_what_would_happen(cli, catalog_path, tmp_path):
    policy = tmp_path / "audit.yaml"
    policy.write_text("mode: audit\n")
    result = check(cli, policy, catalog_path, "--sql", "DELETE FROM crm.orders")
    assert result.code == 0
    statement = result.json()["statements"][0]
    assert statement["action"] == "block" and statement["effective_action"] == "allow"
    assert result.json()["mode"] == "audit"


def test_sql_from_files_and_stdin(cli, policy_path, catalog_path, tmp_path):
    first = tmp_path / "a.sql"
    first.write_text("select 1;\nselect 2;")
    second = tmp_path / "b.sql"
    second.write_text("delete from crm.orders where id = 1")
    result = check(cli, policy_path, catalog_path, str(first), str(second))
    assert [s["kind"] for s in result.json()["statements"]] == ["select", "select", "delete"]
    result = check(cli, policy_path, catalog_path, stdin="truncate crm.orders")
    assert result.code == 1 and result.json()["statements"][0]["kind"] == "truncate"


def test_identity_flags_change_the_decision(cli, policy_path, catalog_path):
    sql = "INSERT INTO mart.contacts SELECT id, email FROM crm.customers"
    officer = check(cli, policy_path, catalog_path, "--principal", "dana@corp", "--group", "privacy-officers", "--sql", sql)
    assert officer.code == 1
    assert officer.json()["statements"][0]["findings"][0]["rule"] == "pii_to_unapproved_zone"


def test_table_output_is_readable(cli, policy_path, catalog_path):
    result = cli("check", "--policy", str(policy_path), "--catalog", str(catalog_path), "--sql", "DELETE FROM crm.orders; SELECT 1")
    assert result.code == 1
    assert "delete_without_where" in result.out and "block" in result.out and "allow" in result.out


def test_explain(cli, policy_path, catalog_path):
    result = cli("explain", "--policy", str(policy_path), "--catalog", str(catalog_path),
                 "--sql", "CREATE TABLE staging.x AS SELECT c.id, upper(c.name) AS name FROM crm.customers c")
    assert result.code == 0
    assert "analytics.staging.x.name <- analytics.crm.customers.name [transformation]" in result.out
    assert "SQL to execute:" in result.out


def test_catalog_from_a_live_duckdb(cli, policy_path, tmp_path):
    import duckdb

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema crm; create table crm.customers (id int, email varchar, city varchar)")
    result = cli("check", "--policy", str(policy_path), "--dsn", f"duckdb:///{path}", "--format", "json",
                 "--sql", "select * from crm.customers")
    statement = result.json()["statements"][0]
    assert statement["reads"] == ["warehouse.crm.customers"]
    assert set(statement["column_lineage"]) == {"id", "email", "city"}


@pytest.mark.postgres
def test_catalog_from_a_live_postgres(cli, policy_path, postgres):
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("create schema if not exists crm")
        connection.execute("create table if not exists crm.customers_cli (id int, email text, salary numeric(10,2))")
    result = cli("check", "--policy", str(policy_path), "--dsn", postgres.dsn, "--format", "json",
                 "--sql", "select * from crm.customers_cli; alter table crm.customers_cli alter column salary type numeric(8,2)")
    first, second = result.json()["statements"]
    assert first["reads"] == ["postgres.crm.customers_cli"]
    assert set(first["column_lineage"]) == {"id", "email", "salary"}
    assert second["action"] == "require_approval"
    assert "numeric(10,2)" in second["findings"][0]["message"]
    bad = cli("check", "--dsn", postgres.dsn_for("postgres", password="secret").replace(str(postgres.port), "1"), "--sql", "select 1")
    assert bad.code == 2 and "secret" not in bad.err


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "lineage"
    result = subprocess.run([str(script), "check", "--sql", "DELETE FROM t", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "LINEAGE_POLICY": ""})
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["statements"][0]["findings"][0]["rule"] == "delete_without_where"
