"""Approvals on a real PostgreSQL 15: an approval binds the exact statement, and ``lineage exec`` and
``lineage jit run`` hold, request and (after a signed approval) run what needs approval."""

from __future__ import annotations

import re

import psycopg
import pytest

from lineage.approve.verify import signer_for
from lineage.approve.approvals import Approvals, ApprovalStore
from lineage.adapters.dbapi import govern
from lineage.governor import ApprovalRequired
from lineage.identity.run_identity import RunIdentity
from lineage.record import open_ledger
from lineage.policy import load_policy_text
from lineage.approve.approver_keys import ApproverKeys

POLICY_TEXT = """
approvals:
  approvers: [{group: data-owners}]
identity:
  groups: [{principal: olga@corp, groups: [data-owners]}]
guardrails:
  - {rule: update_without_where, action: require_approval}
  - {rule: rewrite_column, action: require_approval}  # a USING that rewrites every row, as UPDATE without WHERE
"""
IDENTITY = RunIdentity(principal="svc:etl", environment="prod", job_name="etl.nightly")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ApproverKeys(tmp_path_factory.mktemp("approver-keys"))


@pytest.fixture(scope="module")
def policy(keys):
    return load_policy_text(keys.policy_text(POLICY_TEXT, ["olga@corp"]))


@pytest.fixture
def database(postgres, request):
    name = f"approvals_pg_{abs(hash(request.node.name)) % 10**8}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name}")
        admin.execute(f"create database {name}")
        if not admin.execute("select 1 from pg_roles where rolname = 'analyst'").fetchone():
            admin.execute("create role analyst nologin")
    dsn = postgres.dsn_for(name)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("create schema app; create table app.notes (id int, body text)")
        connection.execute("insert into app.notes values (1, 'a long note body'), (2, 'another long body')")
        connection.execute("grant usage on schema app to analyst; grant select on app.notes to analyst")
    return dsn


def test_an_approved_set_role_does_not_cover_another_role(database, policy, keys, tmp_path):
    approvals = Approvals(policy, ApprovalStore(f"sqlite:///{tmp_path / 'approvals.db'}"))
    with psycopg.connect(database, autocommit=True) as raw:
        connection = govern(raw, policy=policy, identity=IDENTITY, ledger=False, approvals=approvals)
        cursor = connection.cursor()
        with pytest.raises(ApprovalRequired) as held:
            cursor.execute("set role 'analyst'")
        assert approvals.status(held.value.request_id).statement == "set role 'analyst'"  # the approver sees the role
        approvals.approve(held.value.request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
        cursor.execute("set role 'analyst'")
        cursor.execute("select current_user")
        assert cursor.fetchall() == [("analyst",)]
        raw.execute("reset role")  # governed, RESET ROLE changes the role too (privilege_change)
        with pytest.raises(ApprovalRequired) as other:
            cursor.execute("set role 'postgres'")
        assert other.value.request_id != held.value.request_id
        assert approvals.status(other.value.request_id).statement == "set role 'postgres'"
        cursor.execute("select current_user")
        assert cursor.fetchall() == [("postgres",)] and raw.execute("select current_setting('role')").fetchone() == ("none",)


def test_an_approved_type_change_does_not_cover_another_using_expression(database, policy, keys, tmp_path):
    approvals = Approvals(policy, ApprovalStore(f"sqlite:///{tmp_path / 'approvals.db'}"))
    approved = "alter table app.notes alter column body type varchar(10) using left(body, 10)"
    emptied = "alter table app.notes alter column body type varchar(10) using left(body, 0)"
    with psycopg.connect(database, autocommit=True) as raw:
        connection = govern(raw, policy=policy, identity=IDENTITY, ledger=False, approvals=approvals)
        cursor = connection.cursor()
        with pytest.raises(ApprovalRequired) as held:
            cursor.execute(approved)
        assert "USING LEFT(body, 10)" in approvals.status(held.value.request_id).statement
        approvals.approve(held.value.request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
        with pytest.raises(ApprovalRequired) as other:
            cursor.execute(emptied)
        assert "USING LEFT(body, 0)" in approvals.status(other.value.request_id).statement
        assert raw.execute("select body from app.notes order by id").fetchall() == [("a long note body",), ("another long body",)]
        cursor.execute(approved + "  -- as approved")
        assert raw.execute("select body from app.notes order by id").fetchall() == [("a long not",), ("another lo",)]


def _request_id(text: str) -> str:
    return re.search(r"Request id: (apr-[0-9a-f]+)", text).group(1)


def test_exec_holds_asks_and_runs_with_the_approval(database, policy, keys, cli, tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_bytes(policy.raw)
    ledger = tmp_path / "ledger.db"
    base = ("exec", "--dsn", database, "--policy", str(policy_file), "--ledger", str(ledger), "--principal", "svc:etl",
            "--env", "prod", "--job", "etl.nightly", "--sql", "update app.notes set body = 'x'")
    held = cli(*base)
    assert held.code == 3 and "--approval apr-" in held.err
    request_id = _request_id(held.err)
    assert ApprovalStore(f"sqlite:///{tmp_path / 'approvals.db'}").get(request_id).statement == "UPDATE app.notes SET body = 'x'"
    decided = cli("approvals", "approve", request_id, "--policy", str(policy_file), "--ledger", str(ledger), "--key", str(keys.path("olga@corp")))
    assert decided.code == 0, decided.out + decided.err
    # presented by another job: ignored, still held
    other_job = cli(*[("etl.other" if part == "etl.nightly" else part) for part in base], "--approval", request_id)
    assert other_job.code == 3 and f"approval {request_id} ignored: it is for job lineage-governance/etl.nightly" in other_job.err
    with psycopg.connect(database) as check:
        assert check.execute("select count(*) from app.notes where body = 'x'").fetchone() == (0,)
    ran = cli(*base, "--approval", request_id)
    assert ran.code == 0, ran.err
    with psycopg.connect(database) as check:
        assert check.execute("select count(*) from app.notes where body = 'x'").fetchone() == (2,)
    started = [entry.body for entry in open_ledger(str(ledger)).entries() if entry.body.get("phase") == "started"]
    assert started[-1]["approval"]["id"] == request_id and started[-1]["approval"]["approver"] == "olga@corp"
    assert started[-1]["approval"]["key_id"].startswith("SHA256:") and started[-1]["approval"]["signature"]


def test_jit_run_holds_asks_and_runs_with_the_approval(postgres, database, policy, keys, cli, tmp_path, monkeypatch):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy.raw.decode() + "jit: {enabled: true, ttl: 15m, environments: [prod], role_prefix: lgapr_, owner_role: lgapr_owner}\n")
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("do $$ begin create role lgapr_owner nologin; exception when duplicate_object then null; end $$")
    monkeypatch.setenv("LINEAGE_JIT_ADMIN_DSN", database)
    ledger = tmp_path / "ledger.db"
    base = ("jit", "run", "--policy", str(policy_file), "--ledger", str(ledger), "--principal", "svc:etl",
            "--env", "prod", "--job", "etl.nightly", "--sql", "update app.notes set body = 'y'")
    held = cli(*base)
    assert held.code == 3, held.out + held.err
    request_id = _request_id(held.out)
    decided = cli("approvals", "approve", request_id, "--policy", str(policy_file), "--ledger", str(ledger), "--key", str(keys.path("olga@corp")))
    assert decided.code == 0, decided.out + decided.err
    ran = cli(*base, "--approval", request_id)
    assert ran.code == 0, held.out + ran.out + ran.err
    with psycopg.connect(database) as check:
        assert check.execute("select count(*) from app.notes where body = 'y'").fetchone() == (2,), ran.out
