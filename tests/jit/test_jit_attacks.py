"""Just-in-time roles under attack (issue 16), on a real PostgreSQL 15 with password logins.

The run's role is the attacker: whatever it can do in its own sessions (it holds its password)
must not outlive the run or reach beyond its grants. Each test replays one attack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.jit.manager import JitError, JitManager
from lineage.policy import load_policy_text
from testkit.postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-S3cret-never-logged"
OWNER = "lineage_jit_owner"
POLICY_TEXT = f"jit: {{enabled: true, ttl: 15m, environments: [prod], role_prefix: lgatk_, owner_role: {OWNER}}}\n"
POLICY = load_policy_text(POLICY_TEXT)
IDENTITY = RunIdentity(principal="svc:etl", environment="prod", job_name="etl.attack")
SEED = f"""
create schema raw; create schema mart; create schema hr; create schema secret;
create table raw.orders (id serial primary key, customer_id int, amount int);
insert into raw.orders (customer_id, amount) values (1, 10), (1, 5), (2, 7);
create table raw.customers (id int, email text);
insert into raw.customers values (1, 'ann@example.com');
create table mart.totals (customer_id int, total bigint);
insert into mart.totals values (1, 15), (2, 7);
create table hr.salaries (name text, salary int);
insert into hr.salaries values ('ann', 100), ('bob', 90);
create table public.salaries (name text, salary int);
insert into public.salaries values ('decoy', 1);
create table secret.keys (k text);
insert into secret.keys values ('the-secret-key');
create function public.read_keys() returns setof text language sql security definer as 'select k from secret.keys';
create role {OWNER} nologin;
create role reporting login password 'reporting-pw';
create table public.reports (id int);
alter table public.reports owner to reporting;
create role victim login password 'victim-pw';
"""


@pytest.fixture(scope="module")
def server():
    with ThrowawayPostgres(password=ADMIN_PASSWORD) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as connection:
            connection.execute(SEED)
        yield pg


@pytest.fixture
def policy_file(tmp_path, server, monkeypatch):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT)
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", server.dsn)
    return path


def admin(server):
    return psycopg.connect(server.dsn, autocommit=True)


def decisions(sql, policy=POLICY):
    return Engine(policy).check(sql, IDENTITY)


def role_exists(server, name) -> bool:
    with admin(server) as connection:
        return connection.execute("select count(*) from pg_roles where rolname = %s", [name]).fetchone()[0] == 1


def run_jit(cli, policy_file, sql, *extra):
    return cli("jit", "run", "--policy", str(policy_file), "--env", "prod", "--sql", sql, *extra)


# -- 1. ownership: what a run creates never acts with a privileged role's rights ---------------------


def test_a_view_over_pg_authid_is_refused_and_one_planted_directly_shows_run_2_no_hashes(server, cli, policy_file):
    refused = run_jit(cli, policy_file, "create view mart.pw as select rolname, rolpassword from pg_catalog.pg_authid")
    assert refused.code == 1 and "catalog_view" in refused.out, refused.out + refused.err
    assert refused.out.count("create_view: ok") == 0
    # the role's own session plants the view anyway (it has CREATE on mart for a legitimate table)
    jit = JitManager(server.dsn, POLICY)
    run1 = jit.create(IDENTITY, decisions("create table mart.pw_stage as select id from raw.orders"))
    with psycopg.connect(run1.dsn, autocommit=True) as attacker:
        attacker.execute("create table mart.pw_stage as select id from raw.orders")
        attacker.execute("create view mart.pw_planted as select rolname, rolpassword from pg_authid")
    jit.revoke(run1, IDENTITY)
    with admin(server) as connection:
        assert connection.execute("select viewowner from pg_views where viewname = 'pw_planted'").fetchone()[0] == OWNER
    run2 = jit.create(IDENTITY, decisions("select * from mart.pw_planted"))
    try:
        with psycopg.connect(run2.dsn, autocommit=True) as reader:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute("select rolname, rolpassword from mart.pw_planted").fetchall()
    finally:
        jit.revoke(run2, IDENTITY)


def test_a_planted_security_definer_function_is_not_handed_over(server):
    jit = JitManager(server.dsn, POLICY)
    run1 = jit.create(IDENTITY, decisions("create table mart.fn_stage as select id from raw.orders"))
    with psycopg.connect(run1.dsn, autocommit=True) as attacker:
        attacker.execute("create table mart.fn_stage as select id from raw.orders")
        attacker.execute("create function mart.promote() returns void language sql security definer as 'alter role victim superuser'")
        attacker.execute("create function mart.harmless() returns int language sql as 'select 1'")
    result = jit.revoke(run1, IDENTITY)
    run2 = jit.create(IDENTITY, decisions("select * from mart.totals"))
    try:
        with psycopg.connect(run2.dsn, autocommit=True) as caller:
            with pytest.raises(psycopg.errors.UndefinedFunction):
                caller.execute("select mart.promote()")
    finally:
        jit.revoke(run2, IDENTITY)
    with admin(server) as connection:
        assert connection.execute("select rolsuper from pg_roles where rolname = 'victim'").fetchone()[0] is False
        assert connection.execute("select count(*) from pg_proc where proname in ('promote', 'harmless')").fetchone()[0] == 0
        assert connection.execute("select tableowner from pg_tables where tablename = 'fn_stage'").fetchone()[0] == OWNER
    assert result["dropped"] and result["not_handed_over"] == ["function mart.harmless()", "function mart.promote()"]


def test_a_rule_planted_on_a_run_table_does_not_act_with_the_owners_rights(server):
    with admin(server) as connection:  # the owner's own table (what earlier runs made)
        connection.execute(f"create table mart.history as select * from mart.totals; alter table mart.history owner to {OWNER}")
    jit = JitManager(server.dsn, POLICY)
    run1 = jit.create(IDENTITY, decisions("create table mart.inbox (x int)"))
    with psycopg.connect(run1.dsn, autocommit=True) as attacker:
        attacker.execute("create table mart.inbox (x int)")
        # it may not delete mart.history itself; the rule would, for whoever inserts, as the table's owner
        attacker.execute("create rule wipe as on insert to mart.inbox do also delete from mart.history")
    result = jit.revoke(run1, IDENTITY)
    run2 = jit.create(IDENTITY, decisions("insert into mart.inbox values (1)"))
    try:
        with psycopg.connect(run2.dsn, autocommit=True) as writer:
            writer.execute("insert into mart.inbox values (1)")
    finally:
        jit.revoke(run2, IDENTITY)
    with admin(server) as connection:
        assert connection.execute("select count(*) from mart.history").fetchone()[0] == 2
    assert result["rules_dropped"] == ["wipe on mart.inbox"] and "mart.inbox" in result["handed_over"]


def test_what_the_role_granted_public_on_its_tables_does_not_outlive_it(server):
    jit = JitManager(server.dsn, POLICY)
    run1 = jit.create(IDENTITY, decisions("create table mart.drop_box as select id, email from raw.customers"))
    with psycopg.connect(run1.dsn, autocommit=True) as attacker:
        attacker.execute("create table mart.drop_box as select id, email from raw.customers")
        attacker.execute("grant select on mart.drop_box to public")  # for everyone, after the run
    result = jit.revoke(run1, IDENTITY)
    with admin(server) as connection:
        connection.execute("grant usage on schema mart to victim")  # so only the table's own grants decide
    with psycopg.connect(server.dsn_for("postgres", "victim", "victim-pw"), autocommit=True) as anyone:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="drop_box"):
            anyone.execute("select email from mart.drop_box").fetchall()
    assert result["handed_over"] == ["mart.drop_box"] and result["grants_kept"] == []


def test_a_trojan_function_a_role_plants_on_the_admins_path_never_runs_as_the_admin(server):
    jit = JitManager(server.dsn, POLICY)
    run1 = jit.create(IDENTITY, decisions("create table staged as select id from raw.orders"))  # CREATE on public
    assert "CREATE on schema public" in run1.plan.describe()
    attacker = psycopg.connect(run1.dsn, autocommit=True)  # still open when the admin ends the role's sessions
    # exact argument types beat pg_catalog's (integer, bigint) when the admin's path includes public
    for signature in ("pg_terminate_backend(integer)", "pg_terminate_backend(integer, integer)", "hashtext(varchar)", "to_regrole(varchar)"):
        attacker.execute(f"create function public.{signature} returns boolean language sql as $$ alter role victim superuser; select true $$")
    jit.revoke(run1, IDENTITY)
    attacker.close()
    jit.sweep()
    with admin(server) as connection:
        assert connection.execute("select rolsuper from pg_roles where rolname = 'victim'").fetchone()[0] is False
        connection.execute("drop table if exists public.staged")


def test_no_jit_without_a_dedicated_unprivileged_owner_role(server, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", server.dsn)
    for jit_section, expected in (
        ("{enabled: true, environments: [prod]}", "jit.owner_role is not set"),
        ("{enabled: true, environments: [prod], owner_role: postgres}", "SUPERUSER"),
        ("{enabled: true, environments: [prod], owner_role: reporting}", "can log in"),
    ):
        policy = tmp_path / "policy.yaml"
        policy.write_text(f"jit: {jit_section}\n")
        result = cli("jit", "run", "--policy", str(policy), "--env", "prod", "--sql", "select count(*) from raw.orders")
        assert result.code == 2 and expected in result.err, (jit_section, result.out, result.err)
        assert "ok" not in result.out


# -- 2. the registry is not an attack surface; sweep drops only proven JIT roles ------------------------


def test_a_forged_registry_row_is_refused_and_never_makes_sweep_drop_a_role(server, cli, policy_file):
    forged = run_jit(
        cli, policy_file, "insert into lineage_jit.roles values ('reporting', 'r', 'j', 'p', now(), now() - interval '1 day', 'ended', null)"
    )
    assert forged.code == 1 and "jit_registry" in forged.out, forged.out + forged.err
    # rows written by anyone who reaches the table anyway (here: the admin's own connection)
    with admin(server) as connection:
        connection.execute(
            "insert into lineage_jit.roles values ('reporting', 'r', 'j', 'p', now(), now() - interval '1 day', 'ended', null), "
            "('postgres', 'r', 'j', 'p', now(), now() - interval '1 day', 'active', null) on conflict do nothing"
        )
        connection.execute("create role lgatk_lookalike login valid until '2000-01-01'")  # expired, the prefix, no JIT role
    real = JitManager(server.dsn, POLICY, clock=lambda: datetime.now(timezone.utc) - timedelta(hours=2)).create(IDENTITY, decisions("select id from raw.orders"))
    swept = cli("jit", "sweep", "--policy", str(policy_file))
    assert swept.code == 0, swept.out + swept.err
    assert real.name in swept.out  # the expired real JIT role is still swept
    for name in ("reporting", "postgres", "lgatk_lookalike"):
        assert name not in swept.out and role_exists(server, name), name
    with admin(server) as connection:
        assert connection.execute("select tableowner from pg_tables where tablename = 'reports'").fetchone()[0] == "reporting"
        statuses = dict(connection.execute("select role_name, status from lineage_jit.roles where role_name in ('reporting', 'postgres')").fetchall())
        assert statuses == {"reporting": "rejected", "postgres": "rejected"}
        connection.execute("drop role lgatk_lookalike")


def test_a_registry_planted_before_the_admin_made_it_is_refused(tmp_path):
    with ThrowawayPostgres(password=ADMIN_PASSWORD) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as connection:
            connection.execute(SEED)
            # a pipeline's standing role that may create schemas (dbt's often may) gets there first
            connection.execute("create role etl login password 'etl-pw'; grant create on database postgres to etl")
        with psycopg.connect(pg.dsn_for("postgres", "etl", "etl-pw"), autocommit=True) as etl:
            etl.execute(
                """create schema lineage_jit;
                create table lineage_jit.roles (role_name text primary key, run_id text not null, job text not null,
                    principal text not null, created_at timestamptz not null, expires_at timestamptz not null,
                    status text not null, ended_at timestamptz);
                grant insert, update, select on lineage_jit.roles to public;
                create function lineage_jit.promote() returns trigger language plpgsql as
                    $$ begin alter role victim superuser; return new; end $$;
                create trigger promote before insert on lineage_jit.roles for each row execute function lineage_jit.promote();"""
            )
        with pytest.raises(JitError, match="not the admin's own"):
            JitManager(pg.dsn, POLICY).create(IDENTITY, decisions("select id from raw.orders"))
        with psycopg.connect(pg.dsn) as connection:
            assert connection.execute("select rolsuper from pg_roles where rolname = 'victim'").fetchone()[0] is False


def test_a_role_granted_to_the_marker_by_a_non_admin_is_not_proven(server):
    with admin(server) as connection:
        connection.execute("create role lgatk_forged login valid until '2000-01-01'; create role helper login password 'h'")
    try:
        assert "lgatk_forged" not in JitManager(server.dsn, POLICY).sweep()  # expired, the prefix: proves nothing
        with psycopg.connect(server.dsn_for("postgres", "helper", "h"), autocommit=True) as helper:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                helper.execute("grant lgatk_forged to lineage_jit_roles")
        assert "lgatk_forged" not in JitManager(server.dsn, POLICY).sweep()
        assert role_exists(server, "lgatk_forged")
    finally:
        with admin(server) as connection:
            connection.execute("drop role lgatk_forged; drop role helper")


# -- 3. the run's role is the role: nothing of the admin DSN carries over --------------------------------


@pytest.mark.parametrize("form", ["query", "socket"])
def test_an_admin_dsn_that_overrides_the_user_does_not_make_the_run_the_admin(server, cli, policy_file, monkeypatch, form):
    if form == "query":
        dsn = f"postgresql://127.0.0.1:{server.port}/postgres?user=postgres&password={ADMIN_PASSWORD}"
    else:  # the socket directory: local connections are trusted there
        dsn = f"postgresql:///postgres?host={server.root}&port={server.port}&user=postgres"
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", dsn)
    result = run_jit(cli, policy_file, "select rolname, rolpassword from pg_catalog.pg_authid")
    assert result.code == 1 and "permission denied for table pg_authid" in result.out, result.out + result.err
    jit = JitManager(dsn, POLICY)
    role = jit.create(IDENTITY, decisions("select id from raw.orders"))
    try:
        with psycopg.connect(role.dsn, autocommit=True) as connection:
            assert connection.execute("select current_user, session_user").fetchone() == (role.name, role.name)
    finally:
        jit.revoke(role, IDENTITY)


def test_an_admin_dsn_with_options_or_a_service_is_refused_naming_the_parameter(server, cli, policy_file, monkeypatch):
    for extra, key in (("options=-c%20role%3Dpostgres", "options"), ("service=admin", "service")):
        monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", f"{server.dsn}?{extra}")
        result = run_jit(cli, policy_file, "select count(*) from raw.orders")
        assert result.code == 2 and key in result.err and ADMIN_PASSWORD not in result.err + result.out, result.err


# -- 8. the least admin, and what `jit check` reports ------------------------------------------------------


def test_jit_check_reports_what_the_admin_and_public_can_do(server, cli, policy_file):
    superuser = cli("jit", "check", "--policy", str(policy_file), "--dsn", server.dsn)
    assert superuser.code == 1, superuser.out + superuser.err
    assert "error: [admin] postgres is a superuser" in superuser.out
    assert "read_keys()" in superuser.out and "SECURITY DEFINER" in superuser.out
    assert "PUBLIC may connect to" in superuser.out and "template1" in superuser.out
    assert "PUBLIC may create temporary tables" in superuser.out
    assert ADMIN_PASSWORD not in superuser.out + superuser.err


@pytest.fixture(scope="module")
def least_admin_server():
    """A non-superuser admin: CREATEROLE, the privileges runs get WITH GRANT OPTION, the owner role's membership."""
    with ThrowawayPostgres(password=ADMIN_PASSWORD) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as connection:
            connection.execute(
                f"""
                create schema raw; create schema mart;
                create table raw.orders (id int, amount int); insert into raw.orders values (1, 10), (2, 7);
                create role jitadmin login password 'jitadmin-pw' createrole;
                create role {OWNER} nologin;
                grant {OWNER} to jitadmin;
                grant create on schema mart to {OWNER};
                grant usage, create on schema mart to jitadmin with grant option;
                grant usage on schema raw to jitadmin with grant option;
                grant select on raw.orders to jitadmin with grant option;
                grant connect on database postgres to jitadmin with grant option;
                grant create on database postgres to jitadmin;
                """
            )
        yield pg


def test_the_least_admin_runs_jit_and_check_says_it_is_a_superuser_in_effect(least_admin_server, cli, tmp_path, monkeypatch):
    dsn = least_admin_server.dsn_for("postgres", "jitadmin", "jitadmin-pw")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_TEXT)
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", dsn)
    result = run_jit(cli, policy, "create table mart.copy as select id, amount from raw.orders")
    assert result.code == 0, result.out + result.err
    assert "granted SELECT on table raw.orders" in result.out and "dropped" in result.out
    with psycopg.connect(least_admin_server.dsn) as superuser:
        assert superuser.execute("select tableowner from pg_tables where tablename = 'copy'").fetchone()[0] == OWNER
        assert superuser.execute("select count(*) from pg_roles where rolname like 'lgatk%'").fetchone()[0] == 0
    check = cli("jit", "check", "--policy", str(policy))
    assert check.code == 0 and "error" not in check.out and "is a superuser:" not in check.out, check.out
    assert "warning: [admin] jitadmin has CREATEROLE on PostgreSQL 15" in check.out and "pg_execute_server_program" in check.out
    # what the warning means: the admin can do it
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("grant pg_read_server_files to jitadmin")
    check = cli("jit", "check", "--policy", str(policy))
    assert check.code == 1 and "error: [admin] jitadmin is a member of pg_read_server_files" in check.out, check.out
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("revoke pg_read_server_files from jitadmin")


# -- 9. PUBLIC's rights, passwords, SIGTERM, search_path, the truth about grants --------------------------


def test_a_public_security_definer_function_is_not_called_under_jit(server, cli, policy_file):
    # even when the policy lists it as a value function (else the allowlist refuses it first)
    policy_file.write_text(POLICY_TEXT + "allowlist: {functions: [read_keys, public.read_keys]}\n")
    for sql in ("select * from read_keys()", "select public.read_keys()"):
        result = run_jit(cli, policy_file, sql)
        assert result.code == 1 and "SECURITY DEFINER" in result.out and "ok" not in result.out, result.out + result.err
        assert "role " not in result.out  # refused before any role existed


def test_the_role_cannot_change_its_password_and_log_in_with_it(server, cli, tmp_path, monkeypatch):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_TEXT + "guardrails: [{rule: privilege_change, action: allow}]\n")
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", server.dsn)
    result = cli("jit", "run", "--policy", str(policy), "--env", "prod", "--sql", "alter role current_user password 'attacker-pw'")
    assert result.code == 1 and "changes a role" in result.out and "ok" not in result.out, result.out + result.err
    # in its own session (it holds its password) it can: PostgreSQL lets every role do that. It is sealed.
    jit = JitManager(server.dsn, POLICY)
    role = jit.create(IDENTITY, decisions("select id from raw.orders"))
    try:
        with psycopg.connect(role.dsn, autocommit=True) as session:
            jit.seal(role)
            session.execute(f"alter role {role.name} password 'attacker-pw'")
            assert session.execute("select count(*) from raw.orders").fetchone()[0] == 3  # the run goes on
            with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
                psycopg.connect(server.dsn_for("postgres", role.name, "attacker-pw"))
    finally:
        jit.revoke(role, IDENTITY)


def test_sigterm_drops_the_role(server, tmp_path, policy_file):
    env = {**os.environ, "LINEAGE_LEDGER_URL": str(tmp_path / "ledger.db")}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "lineage"), "jit", "run", "--policy", str(policy_file), "--env", "prod", "--sql", "select pg_sleep(60)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        name = None
        deadline = time.monotonic() + 30
        with admin(server) as connection:
            while time.monotonic() < deadline and name is None:
                row = connection.execute("select usename from pg_stat_activity where usename like 'lgatk%%' and query like '%%pg_sleep%%'").fetchone()
                name = row[0] if row else None
                time.sleep(0.1)
        assert name, "the run never started"
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 128 + signal.SIGTERM, out + err
    assert f"role {name} dropped" in out, out + err
    assert not role_exists(server, name)


def test_search_path_set_by_the_run_grants_what_the_server_reads(server, cli, policy_file):
    result = run_jit(cli, policy_file, "set search_path = hr; select name, salary from salaries")
    assert result.code == 0, result.out + result.err
    assert "granted SELECT on table hr.salaries" in result.out
    assert "public.salaries" not in result.out
    plain = run_jit(cli, policy_file, "select name from salaries")  # the default path: public
    assert plain.code == 0 and "granted SELECT on table public.salaries" in plain.out and "hr.salaries" not in plain.out, plain.out


def test_jit_run_prints_only_what_was_granted(server, cli, policy_file):
    result = run_jit(cli, policy_file, "select count(*) from raw.orders; select * from mart.not_there")
    assert "granted SELECT on table raw.orders" in result.out
    assert "granted SELECT on table mart.not_there" not in result.out
    assert "not granted: table mart.not_there does not exist" in result.out, result.out


def test_the_registry_is_never_granted_not_even_in_audit_mode_or_with_the_rule_lowered():
    from lineage.jit.manager import plan_grants

    from lineage.policy import PolicyError

    with pytest.raises(PolicyError, match="jit_registry cannot be lowered below block"):
        load_policy_text(POLICY_TEXT + "guardrails: [{rule: jit_registry, action: allow}]\n")
    policy = load_policy_text(POLICY_TEXT + "mode: audit\n")
    (decision,) = Engine(policy).check("update lineage_jit.roles set status = 'ended' where role_name = 'reporting'", IDENTITY)
    assert decision.action.value == "block" and decision.may_run  # audit: recorded as blocked, would run
    plan = plan_grants([decision])
    assert not any("lineage_jit" in grant for grant in plan.describe())
    assert any("JIT registry" in refusal for refusal in plan.refusals)
