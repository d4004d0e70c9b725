"""Identity on the wire and `lineage correlate` against a real PostgreSQL csvlog and the real psql client."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from lineage.identity.comment import identity_comment, parse_comment
from lineage.evidence.csvlog import read_statements
from lineage.adapters.dbapi import govern
from lineage.governor import StatementBlocked
from lineage.identity.run_identity import RunIdentity
from lineage.record import open_ledger
from correlate_support import wait_for_log  # noqa: F401

pytestmark = pytest.mark.postgres
SSN = "123-45-6789"


def fresh_database(postgres, name: str) -> str:
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn_for(name)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("create schema crm; create table crm.customers (id int primary key, name text, email text, ssn text)")
        setup.execute(f"insert into crm.customers values (1, 'Ada', 'ada@example.com', '{SSN}'), (2, 'Bob', 'bob@example.com', '987-65-4321')")
    return dsn


def psql(dsn: str, sql: str, check: bool = True) -> subprocess.CompletedProcess:
    binary = shutil.which("psql")
    if binary is None:
        pytest.skip("the psql client is not installed")
    return subprocess.run([binary, dsn, "-X", "-q", "-c", sql], check=check, capture_output=True, text=True, timeout=30)


def test_identity_comment_and_application_name_reach_the_csvlog(postgres, tmp_path, policy_path):
    dsn = fresh_database(postgres, "wire_test")
    identity = RunIdentity(principal="alice@corp", actor="agent:report-bot", job_namespace="airflow", job_name="daily.extract", source="dbapi")
    connection = govern(psycopg.connect(dsn, autocommit=True), policy=str(policy_path), identity=identity, ledger=tmp_path / "ledger.db")
    connection.execute("select id, name from crm.customers where id = %s", (1,)).fetchall()
    connection.execute("select count(*) from crm.customers").fetchall()
    connection.close()

    rows = wait_for_log(postgres, "COUNT(*) FROM (SELECT")  # crm.customers is protected: the masked form runs
    ours = [row for row in rows if identity.run_id in row[13] and "crm.customers" in row[13]]
    assert len(ours) == 2
    policy_version = connection.governor.engine.policy_version
    for row in ours:
        assert row[22] == f"lg:{identity.run_id}:alice@corp"  # application_name column
        assert row[1] == "postgres" and row[2] == "wire_test"
        fields = parse_comment(row[13])
        assert fields["run_id"] == identity.run_id
        assert fields["principal"] == "alice@corp" and fields["actor"] == "agent:report-bot"
        assert fields["job"] == "airflow/daily.extract" and fields["source"] == "dbapi"
        assert fields["lg_policy"] == policy_version
        assert identity_comment(identity, policy_version) in row[13]  # byte for byte, % signs single
    assert ours[0][13].startswith("execute ") and ours[1][13].startswith("statement: ")


def test_correlate_finds_governed_unattributed_and_divergent_statements(postgres, tmp_path, policy_path, cli):
    dsn = fresh_database(postgres, "correlate_test")
    ledger_path = tmp_path / "ledger.db"
    time.sleep(0.01)
    since = datetime.now(timezone.utc) - timedelta(milliseconds=5)
    identity = RunIdentity(principal="svc:etl", environment="prod", job_name="nightly", source="dbapi")
    connection = govern(psycopg.connect(dsn), policy=str(policy_path), identity=identity, ledger=ledger_path)
    connection.execute("select name from crm.customers where ssn = %s", (SSN,)).fetchall()
    connection.execute(f"select email from crm.customers where ssn = '{SSN}'").fetchall()
    connection.execute("update crm.customers set name = 'Ada L.' where id = 1")
    connection.cursor().executemany("insert into crm.customers (id, name) values (%s, %s)", [(10, "Cy"), (11, "Di"), (12, "Ed")])  # logged 3 times
    with pytest.raises(StatementBlocked):
        connection.execute("update crm.customers set email = null")
    connection.commit()
    connection.close()
    policy_version = connection.governor.engine.policy_version
    comment = identity_comment(identity, policy_version)

    psql(dsn, f"select name, email from crm.customers where ssn = '{SSN}'")  # outside any pipeline
    psql(dsn, f"select ssn from crm.customers {comment}")  # borrows the run's identity for other SQL
    psql(dsn, f"update crm.customers set email = null {comment}")  # what the policy refused, run anyway
    psql(dsn, f"update crm.customers set name = 'Ada L.' where id = 1 {comment}")  # the governed statement, replayed
    wait_for_log(postgres, "set name = 'Ada L.' where id = 1 /*")
    time.sleep(0.2)

    result = cli("correlate", str(postgres.log_dir), "--ledger", str(ledger_path), "--database", "correlate_test", "--since", since.isoformat(), "--format", "json")
    assert result.code == 1, result.err
    report = result.json()
    assert SSN not in result.out  # the database log has it; the report never repeats it

    (run,) = report["runs"]
    assert run["run_id"] == identity.run_id and run["principal"] == "svc:etl" and run["job"] == "lineage-governance/nightly"
    assert run["database_users"] == ["postgres"] and f"lg:{identity.run_id}:svc:etl" in run["applications"]
    assert run["statements"] == 3 + 3 + 3 + 3  # catalog (columns, overloaded built-in names) + application_name, three statements, executemany x3, three borrowed comments
    assert run["divergent"] == 3 and run["control"] >= 2  # BEGIN / COMMIT of the psycopg transaction
    assert report["principals"] == [{"principal": "svc:etl", "runs": 1, "statements": 12, "divergent": 3, "actors": []}]

    (outsider,) = report["unattributed"]
    assert outsider["user"] == "postgres" and outsider["application"] == "psql" and outsider["database"] == "correlate_test"
    assert outsider["client"].startswith("127.0.0.1:") and outsider["time"]
    assert outsider["sql"] == "SELECT name, email FROM crm.customers WHERE ssn = ?"
    assert outsider["tables"] == ["crm.customers"] and "no run-identity comment" in outsider["reason"]

    reasons = {item["sql"]: item["reason"] for item in report["divergences"]}
    assert "differs from every statement" in reasons["SELECT ssn FROM crm.customers"]
    assert "refused" in reasons["UPDATE crm.customers SET email = NULL"]
    assert "ran 2 times" in reasons["UPDATE crm.customers SET name = ? WHERE id = ?"]
    assert all(item["application"] == "psql" for item in report["divergences"])

    table = cli("correlate", str(postgres.log_dir), "--ledger", str(ledger_path), "--database", "correlate_test", "--since", since.isoformat())
    assert table.code == 1
    assert "UNATTRIBUTED (1)" in table.out and "DIVERGENT (3)" in table.out and "svc:etl" in table.out
    assert SSN not in table.out


def test_correlate_recognises_a_ledger_in_the_same_database(postgres, tmp_path, cli):
    dsn = fresh_database(postgres, "same_server_test")
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:  # durable appends: the flush-wait statements are logged too
        admin.execute("ALTER DATABASE same_server_test SET synchronous_commit = on")
    time.sleep(0.01)
    since = datetime.now(timezone.utc) - timedelta(milliseconds=5)
    identity = RunIdentity(principal="svc:etl", source="dbapi")
    connection = govern(psycopg.connect(dsn, autocommit=True), identity=identity, ledger=dsn)
    connection.execute("select id from crm.customers where id = 2").fetchall()
    connection.close()
    tried = psql(dsn, "delete from lineage_ledger where seq = 1", check=False)
    assert tried.returncode != 0 and "append-only" in tried.stderr  # refused by the trigger, but tried: it is logged
    wait_for_log(postgres, "delete from lineage_ledger where seq = 1")
    time.sleep(0.2)
    assert open_ledger(dsn).verify().ok

    report = cli("correlate", str(postgres.log_dir), "--ledger", dsn, "--database", "same_server_test", "--since", since.isoformat(), "--format", "json").json()
    assert report["ledger_traffic"] >= 4  # the ledger's own migrations and appends
    assert report["runs"][0]["statements"] == 4 and report["divergences"] == []  # the catalog's two reads, application_name, the select
    assert [item["sql"] for item in report["unattributed"]] == ["DELETE FROM lineage_ledger WHERE seq = ?"]


def test_csvlog_errors_name_the_file(tmp_path, cli):
    bad = tmp_path / "not-a-log.csv"
    bad.write_text("a,b,c\n")
    ledger = tmp_path / "ledger.db"
    open_ledger(ledger).close()
    result = cli("correlate", str(bad), "--ledger", str(ledger))
    assert result.code == 2 and "not-a-log.csv:1: not a PostgreSQL csvlog line" in result.err
    with pytest.raises(Exception, match="no such file"):
        list(read_statements([tmp_path / "missing"]))
