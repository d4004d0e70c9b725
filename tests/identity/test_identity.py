"""RunIdentity from flags and environment variables; an agent acting for a principal keeps both."""

from __future__ import annotations

import uuid

import duckdb
import pytest

from lineage.identity.comment import identity_comment, parse_comment
from lineage.identity.run_identity import RunIdentity, from_environment, new_run_id
from lineage.record import open_ledger

RUN = "01961f5e-7b7a-7c4e-9a1e-3f2d1c0b9a88"


def test_environment_variables():
    identity = from_environment(
        env={
            "LINEAGE_PRINCIPAL": "alice@corp",
            "LINEAGE_GROUPS": "analysts, data-owners",
            "LINEAGE_ENV": "prod",
            "LINEAGE_ACTOR": "agent:report-bot",
            "LINEAGE_JOB_NAME": "weekly",
            "LINEAGE_RUN_ID": RUN,
            "OPENLINEAGE_PARENT_ID": f"airflow/dag.task/{uuid.uuid4()}",
        }
    )
    assert identity.principal == "alice@corp" and identity.actor == "agent:report-bot"
    assert identity.groups == ("analysts", "data-owners") and identity.environment == "prod"
    assert identity.run_id == RUN and identity.job_name == "weekly" and identity.job_namespace == "airflow"
    assert identity.parent_job_name == "dag.task" and identity.root_run_id == identity.parent_run_id
    assert from_environment(env={"USER": "carol"}).principal == "os:carol"
    assert from_environment(env={}, run_id=RUN.upper()).run_id == RUN
    with pytest.raises(ValueError, match="not a UUID"):
        from_environment(env={"LINEAGE_RUN_ID": "run-7"})


def test_agent_acting_for_a_principal_keeps_both():
    identity = RunIdentity(principal="alice@corp", actor="agent:report-bot")
    assert identity.policy_key() == ("alice@corp", (), "dev")  # policy follows the principal
    fields = parse_comment(identity_comment(identity))
    assert fields["principal"] == "alice@corp" and fields["actor"] == "agent:report-bot"
    assert RunIdentity.from_dict(identity.to_dict()) == identity


def test_exec_takes_identity_flags_and_records_them(tmp_path, cli, policy_path, monkeypatch):
    monkeypatch.delenv("LINEAGE_PRINCIPAL", raising=False)
    database = tmp_path / "shop.duckdb"
    with duckdb.connect(str(database)) as setup:
        setup.execute("create schema crm; create table crm.orders (id int, amount int); insert into crm.orders values (1, 10), (2, 20)")
    ledger = tmp_path / "ledger.db"
    result = cli(
        "exec", "--dsn", f"duckdb:///{database}", "--policy", str(policy_path), "--ledger", str(ledger),
        "--principal", "alice@corp", "--actor", "agent:report-bot", "--job", "ad_hoc_report", "--run-id", RUN,
        "--sql", "select id, amount from crm.orders where amount > 15", "--format", "json",
    )
    assert result.code == 0, result.err
    assert result.json()["results"][0]["rows"] == [[2, 20]]
    body = [entry.body for entry in open_ledger(ledger).entries() if entry.body["kind"] == "statement"][-1]
    assert body["identity"]["principal"] == "alice@corp" and body["identity"]["actor"] == "agent:report-bot"
    assert body["identity"]["run_id"] == RUN and body["identity"]["job_name"] == "ad_hoc_report"

    both = cli("exec", "--dsn", f"duckdb:///{database}", "--ledger", str(ledger), "--principal", "alice@corp", "--sql", "select count(*) as n from crm.orders; select max(amount) as top from crm.orders", "--format", "json")
    assert [result["rows"] for result in both.json()["results"]] == [[[2]], [[20]]]

    blocked = cli("exec", "--dsn", f"duckdb:///{database}", "--policy", str(policy_path), "--ledger", str(ledger), "--principal", "alice@corp", "--sql", "delete from crm.orders")
    assert blocked.code == 1 and "delete_without_where" in blocked.err
    assert cli("exec", "--dsn", "mysql://x", "--ledger", str(ledger), "--sql", "select 1").code == 2
    assert cli("check", "--run-id", "nope", "--sql", "select 1").code == 2


def test_new_run_ids_are_uuidv7_in_uuids_own_spelling_and_time_ordered():
    ids = [new_run_id() for _ in range(200)]
    for run_id in ids:
        parsed = uuid.UUID(run_id)
        assert str(parsed) == run_id and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)
    assert [run_id[:13] for run_id in ids] == sorted(run_id[:13] for run_id in ids)  # 48 bits of milliseconds first
