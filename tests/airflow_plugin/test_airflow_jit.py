"""Just-in-time PostgreSQL roles in a real Airflow task: the operator's statements run as a role
granted exactly what they need, which is dropped when the task ends."""

from __future__ import annotations

import csv
import re

import psycopg
import pytest

from testkit.postgres import ThrowawayPostgres

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

ADMIN_PASSWORD = "jit-admin-S3cret"
JIT_SECTION = "jit: {enabled: true, ttl: 15m, environments: [prod], role_prefix: lgair_, owner_role: lineage_jit_owner}\n"
READER_PASSWORD = "reader-pw"
SEED = """
create schema raw; create schema mart;
create table raw.orders (id int, customer_id int, amount int);
insert into raw.orders values (1, 1, 10), (2, 1, 5), (3, 2, 7);
create table raw.customers (id int, email text);
insert into raw.customers values (1, 'ann@example.com');
create table mart.totals (customer_id int, total bigint);
create function count_customers() returns bigint language sql as 'select count(*) from raw.customers';
create role catalog_reader login password 'reader-pw';
create role lineage_jit_owner nologin;
grant usage on schema raw, mart to catalog_reader;
grant references on all tables in schema raw, mart to catalog_reader;  -- sees columns, reads no rows
"""


@pytest.fixture(scope="module")
def jit_server(airflow_home, tmp_path_factory):
    with ThrowawayPostgres(password=ADMIN_PASSWORD, csvlog=True) as server:
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute(SEED)
        airflow_home.connection(
            "pgjit", conn_type="postgres", host="127.0.0.1", port=server.port, login="catalog_reader", password=READER_PASSWORD, schema="postgres"
        )
        yield server


def csvlog_rows(server) -> list[list[str]]:
    rows = []
    for path in server.csv_logs():
        with open(path, newline="") as handle:
            rows.extend(csv.reader(handle))
    return rows


def test_operator_statements_run_as_a_role_dropped_at_task_end(airflow_home, jit_server, monkeypatch, tmp_path):
    from conftest import DATA

    policy = tmp_path / "jit_policy.yaml"
    # count_customers() is allow-listed so that it reaches the database, where the role lacks the grant
    policy.write_text((DATA / "airflow_policy.yaml").read_text() + JIT_SECTION + "allowlist: {functions: [count_customers]}\n")
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE", str(policy))
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", jit_server.dsn)

    # a worker killed with SIGKILL earlier left its role behind; its TTL has passed
    from datetime import datetime, timedelta, timezone

    import airflow_plugin.jit
    from lineage.decide.engine import Engine
    from lineage.identity.run_identity import RunIdentity
    from lineage.jit.manager import JitManager
    from lineage.policy import load_policy_text

    jit_policy = load_policy_text(JIT_SECTION)
    dead_identity = RunIdentity(principal="svc:etl", environment="prod")
    hours_ago = lambda: datetime.now(timezone.utc) - timedelta(hours=2)
    leftover = JitManager(jit_server.dsn, jit_policy, clock=hours_ago).create(dead_identity, Engine(jit_policy).check("select id from raw.orders", dead_identity))
    monkeypatch.setattr(airflow_plugin.jit, "_swept_at_start", False, raising=False)

    run = airflow_home.test("lg_jit")
    states = airflow_home.task_states(run)
    assert states == {"load": "success", "hidden_read": "failed", "hook_without_known_sql": "failed"}

    with psycopg.connect(jit_server.dsn) as admin:
        assert admin.execute("select customer_id, total from mart.totals order by 1").fetchall() == [(1, 15), (2, 7)]
        # swept when the worker started
        assert admin.execute("select count(*) from pg_roles where rolname = %s", [leftover.name]).fetchone()[0] == 0
        # every role of the run is gone, and nothing still runs as one
        assert admin.execute("select count(*) from pg_roles where rolname like 'lgair%'").fetchone()[0] == 0
        assert admin.execute("select count(*) from pg_stat_activity where usename like 'lgair%'").fetchone()[0] == 0

    import time

    time.sleep(0.5)  # the logging collector writes asynchronously
    rows = csvlog_rows(jit_server)
    inserts = [row for row in rows if re.match(r"statement: insert into mart.totals", row[13])]
    assert inserts and all(row[1].startswith("lgair_") for row in inserts), [row[1] for row in inserts]
    hidden = [row for row in rows if "count_customers" in row[13] and row[1].startswith("lgair_")]
    assert hidden, "the hidden read ran as its task's role"
    assert any(row[11] == "ERROR" and row[13].startswith("permission denied for") for row in rows), [row[11:14] for row in rows if row[11] != "LOG"]
    # the admin DSN's password never reaches the log
    assert not any(ADMIN_PASSWORD in "".join(row) for row in rows)

    from lineage.record import open_ledger

    entries = [entry.body for entry in open_ledger(airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"]).entries()]
    mine = [body for body in entries if (body.get("identity") or {}).get("attributes", {}).get("dag_id") == "lg_jit"]
    created = [body for body in mine if body["kind"] == "jit_role_created"]
    revoked = [body for body in mine if body["kind"] == "jit_role_revoked"]
    assert len(created) == 2 and len(revoked) == 2  # load and hidden_read: each its own role
    load_grants = next(body["payload"]["grants"] for body in created if body["identity"]["attributes"]["task_id"] == "load")
    assert "SELECT on table raw.orders" in load_grants and "INSERT on table mart.totals" in load_grants
    assert not any("raw.customers" in grant for grant in load_grants)
    failed = [body for body in mine if body["kind"] == "statement" and body["phase"] == "failed"]
    assert any("permission denied" in (body.get("error") or "") and body["identity"]["database_user"].startswith("lgair_") for body in failed)
    assert ADMIN_PASSWORD not in str(entries)
    # the @task's SQL was not known up front: it never reached the database under any login
    hook_task = [body for body in mine if body["identity"]["attributes"].get("task_id") == "hook_without_known_sql"]
    assert not [body for body in hook_task if body.get("phase") in ("started", "finished")]
    assert not [row for row in rows if "select count(*) from raw.orders" in row[13]]


def test_a_task_killed_with_sigterm_drops_its_role(airflow_home, jit_server, tmp_path):
    """The supervisor sends SIGTERM, then SIGKILL: the role must be gone before the SIGKILL."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import DATA

    policy = tmp_path / "jit_policy.yaml"
    # the task's identity reads classified data masked, so pg_sleep (no value function) needs listing
    policy.write_text((DATA / "airflow_policy.yaml").read_text() + JIT_SECTION + "allowlist: {functions: [pg_sleep]}\n")
    env = {**os.environ, **airflow_home.env, "AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE": str(policy), "LINEAGE_JIT_ADMIN_DSN": jit_server.dsn}
    # its own process group: whatever it started is killed with it at the end (and lets go of the output pipe)
    task = subprocess.Popen([sys.executable, "-m", "airflow", "dags", "test", "lg_jit_sleep"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    name = None
    try:
        with psycopg.connect(jit_server.dsn, autocommit=True) as admin:
            deadline = time.monotonic() + 180
            while name is None and time.monotonic() < deadline and task.poll() is None:
                row = admin.execute("select usename from pg_stat_activity where usename like 'lgair%%' and query like '%%pg_sleep%%'").fetchone()
                name = row[0] if row else None
                time.sleep(0.2)
            assert name, "the task never ran its statement as a JIT role"
            task.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30  # a generous grace before the SIGKILL
            while time.monotonic() < deadline and admin.execute("select count(*) from pg_roles where rolname = %s", [name]).fetchone()[0]:
                time.sleep(0.2)
            assert admin.execute("select count(*) from pg_roles where rolname = %s", [name]).fetchone()[0] == 0, "the role outlived SIGTERM"
            # a terminated backend leaves pg_stat_activity when its process has exited, shortly after the signal
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and admin.execute("select count(*) from pg_stat_activity where usename = %s", [name]).fetchone()[0]:
                time.sleep(0.2)
            assert admin.execute("select count(*) from pg_stat_activity where usename = %s", [name]).fetchone()[0] == 0
    finally:
        try:
            output = task.communicate(timeout=60)[0]  # SIGTERM was sent: it ends by itself
        except subprocess.TimeoutExpired:
            os.killpg(task.pid, signal.SIGKILL)
            output = task.communicate(timeout=60)[0]
    assert "dropping its JIT role" in output, output[-3000:]
