"""Just-in-time roles on a real PostgreSQL with password logins (as in production)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.jit.manager import JitManager, plan_grants
from lineage.policy import load_policy_text
from testkit.postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres

ADMIN_PASSWORD = "admin-S3cret-never-logged"
OWNER = "lineage_jit_owner"
POLICY = load_policy_text(f"jit: {{enabled: true, ttl: 15m, environments: [prod], role_prefix: lgtest_, owner_role: {OWNER}}}\n")
IDENTITY = RunIdentity(principal="svc:etl", environment="prod", job_name="etl.load")
# the tables the server fixture creates, as `lineage jit plan --dsn` reads them (a WHERE is judged by the column's type)
CATALOG = Catalog.from_mapping({
    "raw": {"orders": {"id": "integer", "customer_id": "integer", "amount": "integer"}, "customers": {"id": "integer", "email": "text"}},
    "mart": {"totals": {"customer_id": "integer", "total": "bigint"}},
}, dialect="postgres")
STATEMENTS = "insert into mart.totals select customer_id, sum(amount) from raw.orders group by 1; delete from mart.totals where total < 0"


class Recorder:
    def __init__(self):
        self.events = []

    def record_event(self, kind, identity, payload):
        self.events.append((kind, json.dumps(payload, default=str)))


@pytest.fixture(scope="module")
def server():
    with ThrowawayPostgres(password=ADMIN_PASSWORD, csvlog=True) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as connection:
            connection.execute("create schema raw; create schema mart")
            connection.execute(f"create role {OWNER} nologin")
            connection.execute("create table raw.orders (id serial primary key, customer_id int, amount int)")
            connection.execute("create table raw.customers (id int, email text)")
            connection.execute("create table mart.totals (customer_id int, total bigint)")
            connection.execute("insert into raw.orders (customer_id, amount) values (1, 10), (1, 5), (2, 7)")
            connection.execute("insert into raw.customers values (1, 'ann@example.com')")
        yield pg


def manager(server, ledger=None, clock=None):
    kwargs = {"clock": clock} if clock else {}
    return JitManager(server.dsn, POLICY, ledger, **kwargs)


def decisions(sql=STATEMENTS):
    return Engine(POLICY, catalog=CATALOG, dialect="postgres").check(sql, IDENTITY)


def test_plan_is_least_privilege():
    plan = plan_grants(decisions(), "postgres")
    assert plan.describe() == [
        "USAGE on schema mart",
        "USAGE on schema raw",
        "DELETE on table mart.totals",
        "INSERT on table mart.totals",
        "SELECT on table mart.totals",
        "SELECT on table raw.orders",
    ]


def test_the_role_can_do_exactly_what_the_statements_need(server):
    ledger = Recorder()
    jit = manager(server, ledger)
    role = jit.create(IDENTITY, decisions())
    assert len(role.name) <= 63 and role.name.startswith("lgtest_")
    with psycopg.connect(role.dsn, autocommit=True) as connection:
        connection.execute("insert into mart.totals select customer_id, sum(amount) from raw.orders group by 1")
        connection.execute("delete from mart.totals where total < 0")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("select email from raw.customers")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("update mart.totals set total = 0")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("insert into raw.orders (customer_id, amount) values (3, 1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("create table mart.sneaky (x int)")
    with psycopg.connect(server.dsn) as admin:
        assert admin.execute("select count(*) from mart.totals").fetchone()[0] == 2
    jit.revoke(role, IDENTITY, "succeeded")
    assert [kind for kind, _ in ledger.events] == ["jit_role_created", "jit_role_revoked"]


def test_after_the_run_the_role_cannot_log_in_and_has_no_sessions(server):
    jit = manager(server)
    role = jit.create(IDENTITY, decisions("select amount from raw.orders"))
    lingering = psycopg.connect(role.dsn, autocommit=True)
    assert lingering.execute("select count(*) from raw.orders").fetchone()[0] == 3
    result = jit.revoke(role, IDENTITY)
    assert result["dropped"] and result["sessions_terminated"] == 1
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("select 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(role.dsn)
    with psycopg.connect(server.dsn) as admin:
        assert admin.execute("select count(*) from pg_roles where rolname = %s", [role.name]).fetchone()[0] == 0
        assert admin.execute("select count(*) from pg_stat_activity where usename = %s", [role.name]).fetchone()[0] == 0


def test_objects_a_run_creates_survive_the_role(server):
    jit = manager(server)
    role = jit.create(IDENTITY, decisions("create table mart.snapshot as select id, amount from raw.orders"))
    with psycopg.connect(role.dsn, autocommit=True) as connection:
        connection.execute("create table mart.snapshot as select id, amount from raw.orders")
    jit.revoke(role, IDENTITY)
    with psycopg.connect(server.dsn) as admin:
        assert admin.execute("select count(*) from mart.snapshot").fetchone()[0] == 3
        # handed to the dedicated NOLOGIN owner role, never to the (superuser) admin
        assert admin.execute("select tableowner from pg_tables where tablename = 'snapshot'").fetchone()[0] == OWNER


def test_a_killed_workers_role_is_swept(server, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, time\n"
        "from lineage.decide.engine import Engine\nfrom lineage.identity.run_identity import RunIdentity\nfrom lineage.jit.manager import JitManager\n"
        "from lineage.policy import load_policy_text\n"
        f"policy = load_policy_text({POLICY.raw.decode()!r})\n"
        "identity = RunIdentity(principal='svc:etl', environment='prod')\n"
        "role = JitManager(sys.argv[1], policy).create(identity, Engine(policy).check('select 1 from raw.orders', identity))\n"
        "print(role.name, flush=True)\n"
        "time.sleep(60)\n"
    )
    worker = subprocess.Popen([sys.executable, str(script), server.dsn], stdout=subprocess.PIPE, text=True)
    name = worker.stdout.readline().strip()
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    jit = manager(server)
    assert name not in jit.sweep()  # its TTL has not passed yet
    later = lambda: datetime.now(timezone.utc) + timedelta(minutes=16)
    assert name in manager(server, clock=later).sweep()
    with psycopg.connect(server.dsn) as admin:
        assert admin.execute("select count(*) from pg_roles where rolname = %s", [name]).fetchone()[0] == 0


def test_concurrent_runs_get_separate_roles_and_sweeps_do_not_collide(server):
    roles = []

    def create(index):
        identity = IDENTITY.with_(run_id=f"0190a7f4-0000-7000-8000-00000000000{index}")
        roles.append(manager(server).create(identity, decisions("select amount from raw.orders")))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({role.name for role in roles}) == 4
    later = lambda: datetime.now(timezone.utc) + timedelta(hours=1)
    results: list[list[str]] = []
    sweepers = [threading.Thread(target=lambda: results.append(manager(server, clock=later).sweep())) for _ in range(3)]
    for sweeper in sweepers:
        sweeper.start()
    for sweeper in sweepers:
        sweeper.join()
    swept = [name for result in results for name in result]
    assert {role.name for role in roles} <= set(swept)
    assert len(swept) == len(set(swept))  # each role dropped exactly once


def test_admin_credentials_never_leak(server, cli, tmp_path, monkeypatch):
    ledger = Recorder()
    jit = manager(server, ledger)
    role = jit.create(IDENTITY, decisions("select amount from raw.orders"))
    jit.revoke(role, IDENTITY)
    assert not any(ADMIN_PASSWORD in payload or role.password in payload for _, payload in ledger.events)
    time.sleep(0.3)
    logs = "".join(path.read_text(errors="replace") for path in server.csv_logs())
    assert role.name in logs  # the log is really being written
    assert ADMIN_PASSWORD not in logs and role.password not in logs
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(POLICY.raw)
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", server.dsn.replace(ADMIN_PASSWORD, "wrong-password"))
    result = cli("jit", "sweep", "--policy", str(policy))
    assert result.code == 2 and "wrong-password" not in result.err + result.out


def test_cli_plan_and_run(server, cli, tmp_path, monkeypatch):
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(POLICY.raw)
    plan = cli("jit", "plan", "--policy", str(policy), "--sql", STATEMENTS, "--format", "json")
    assert "INSERT on table mart.totals" in plan.json()["grants"]
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", server.dsn)
    ok = cli("jit", "run", "--policy", str(policy), "--env", "prod", "--sql", "select count(*) from raw.orders")
    assert ok.code == 0, ok.out + ok.err
    assert "granted SELECT on table raw.orders" in ok.out and "dropped" in ok.out
    refused = cli("jit", "run", "--policy", str(policy), "--env", "prod", "--sql", "select count(*) from raw.orders; delete from raw.orders")
    assert refused.code == 1 and "delete_without_where" in refused.out and "dropped" in refused.out
    with psycopg.connect(server.dsn) as admin:
        assert admin.execute("select count(*) from raw.orders").fetchone()[0] == 3
