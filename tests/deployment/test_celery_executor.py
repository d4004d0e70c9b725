"""Two Celery workers (Redis broker) governing tasks into one PostgreSQL ledger: twenty parallel
tasks spread over both workers, each event through its own worker's spool; a worker killed -9
in the middle of a statement, its task retried on the other worker under a new try."""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter

import pytest

from .deployment_helpers import EXAMPLES, HERE, contract_problems, deploy, distinct, event_key, pending_request, statement_events, task_run_id

pytestmark = [pytest.mark.deployment, pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

CUSTOMERS = """
create schema if not exists raw;
create table if not exists raw.customers (
    id integer, full_name varchar, email varchar, ssn varchar, salary decimal(12,2), birth_date date, city varchar);
truncate raw.customers;
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester'),
    (3, 'Grace Hopper', 'grace@example.net', '555-12-3456', 130000, '1978-12-09', 'London');
"""


@pytest.fixture(scope="module")
def redis():
    from testkit.redis import ThrowawayRedis

    with ThrowawayRedis() as server:
        yield server


@pytest.fixture(scope="module")
def celery(deployment_postgres, lineage_backend, metadata_template, redis):
    dags = [HERE / "dags" / "lg_fanout.py", HERE / "dags" / "lg_crash.py", HERE / "dags" / "lg_settings.py", EXAMPLES / "governed_pipeline.py", EXAMPLES / "sql"]
    # lg_crash holds its first try inside pg_sleep: no value function, so the policy lists it
    with deploy("celery", "CeleryExecutor", deployment_postgres, lineage_backend, metadata_template, dags, functions=("pg_sleep",),
                broker_url=redis.url, workers=2, worker_concurrency=4, heartbeat_timeout=45) as deployed:
        deployed.warehouse(CUSTOMERS)
        deployed.api().wait_for_dags(["lg_fanout", "lg_crash", "lg_settings", "governed_pipeline"])
        yield deployed


def tasks_run_by(celery, worker: str) -> set[str]:
    """The task ids a Celery worker executed, from its own log."""
    text = celery.deployment.components[worker].log.read_text(errors="replace")
    return set(re.findall(r"Executing workload in Celery:.*?task_id='([^']+)'", text))


def delivered(spool) -> int:
    if not spool.exists():
        return 0
    with sqlite3.connect(spool) as connection:
        row = connection.execute("select value from counters where name = 'delivered'").fetchone()
    return row[0] if row else 0


@pytest.mark.timeout(900)
def test_twenty_parallel_tasks_on_two_workers_into_one_chain(celery):
    celery.warehouse("create schema if not exists fanout; create table if not exists fanout.parts (dag_run_id text, part integer, try_number integer, done boolean default false)")
    admin = celery.api("admin")
    run_id = admin.trigger("lg_fanout")
    assert admin.wait_for_run("lg_fanout", run_id, timeout=600) == "success", admin.states("lg_fanout", run_id)
    tis = admin.task_instances("lg_fanout", run_id)
    assert len(tis) == 20 and {ti["state"] for ti in tis.values()} == {"success"}
    rows = celery.warehouse(f"select part, try_number, done from fanout.parts where dag_run_id = '{run_id}' order by part")
    assert rows == [(part, 1, True) for part in range(20)]

    # both workers ran tasks, each through its own spool
    by_worker = {worker: tasks_run_by(celery, worker) & set(tis) for worker in celery.deployment.worker_names}
    assert all(by_worker.values()), f"tasks per worker: {by_worker}"
    assert set().union(*by_worker.values()) == set(tis)
    assert all(delivered(celery.deployment.spool(worker)) > 0 for worker in by_worker)

    # one ledger: every statement recorded once (started, finished) under its task's identity and try
    dag_run = admin.dag_run("lg_fanout", run_id)
    records = [r for r in celery.ledger("lg_fanout", run_id) if r["kind"] == "statement"]
    expected = {task_id: task_run_id("lg_fanout", task_id, 1, dag_run) for task_id in tis}
    phases = Counter((r["identity"]["run_id"], r["identity"]["attributes"]["task_id"], r["identity"]["attributes"]["try_number"], r["statement"]["kind"], r["phase"]) for r in records)
    wanted = Counter({(expected[task], task, 1, kind, phase): 1 for task in tis for kind in ("insert", "select", "update") for phase in ("started", "finished")})
    assert phases == wanted
    masked = [r for r in records if r["statement"]["kind"] == "select" and r["phase"] == "finished"]
    assert all(r["masked_columns"] for r in masked) and len(masked) == 20
    verification = celery.verify_ledger()
    assert verification.ok, verification
    sequences = [r["seq"] for r in celery.ledger()]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))  # one chain, no gaps

    # the events: three statement runs under each task's run, as the lineage backend got them; an
    # event may arrive twice (a send that timed out under load is sent again: the documented
    # at-most-twice), never three times, and none is missing
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        events = celery.events()
        counts = {task: Counter(e["eventType"] for e in distinct(statement_events(events, run))) for task, run in expected.items()}
        if all(count == Counter({"START": 3, "COMPLETE": 3}) for count in counts.values()):
            break
        time.sleep(1)
    odd = {task: (count, sorted((e["job"]["name"], e["eventType"], e["run"]["runId"]) for e in statement_events(events, expected[task]))) for task, count in counts.items() if count != Counter({"START": 3, "COMPLETE": 3})}
    assert not odd, odd
    copies = Counter(event_key(e) for run in expected.values() for e in statement_events(events, run))
    assert max(copies.values()) <= 2, [key for key, count in copies.items() if count > 2]
    ours = distinct([e for run in expected.values() for e in statement_events(events, run)])
    assert all(e["job"]["name"].startswith(f"lg_fanout.{e['run']['facets']['lineageGovernance_identity']['attributes']['task_id']}.") for e in ours)
    assert contract_problems(ours) == []
    assert celery.rejected() == []  # the backend took every event, the provider's included


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_statement_retries_under_a_new_try(celery):
    celery.warehouse("create schema if not exists crash; create table if not exists crash.steps (try_number integer, step text)")
    admin = celery.api("admin")
    run_id = admin.trigger("lg_crash")
    # wait until the first try is inside pg_sleep (its "started" record is in the ledger)
    deadline = time.monotonic() + 300
    while True:
        sleeping = [r for r in celery.ledger("lg_crash", run_id) if r["kind"] == "statement" and "PG_SLEEP" in r["statement"]["sql"].upper() and r["phase"] == "started"]
        if sleeping:
            break
        assert time.monotonic() < deadline, f"the first try never reached pg_sleep\n{celery.deployment.describe()}"
        time.sleep(0.5)
    pid = admin.task_instances("lg_crash", run_id)["load"]["pid"]
    victim = next(name for name in celery.deployment.worker_names if pid in [p.pid for p in celery.deployment.components[name].tree()])
    killed = celery.deployment.kill(victim)
    assert pid in killed

    assert admin.wait_for_run("lg_crash", run_id, timeout=600) == "success", admin.states("lg_crash", run_id)
    celery.deployment.restart(victim)
    ti = admin.task_instances("lg_crash", run_id)["load"]
    assert ti["state"] == "success" and ti["try_number"] == 2
    assert sorted(celery.warehouse("select try_number, step from crash.steps")) == [(1, "before"), (2, "after"), (2, "before")]

    dag_run = admin.dag_run("lg_crash", run_id)
    first, second = (task_run_id("lg_crash", "load", n, dag_run) for n in (1, 2))
    records = [r for r in celery.ledger("lg_crash", run_id) if r["kind"] == "statement"]
    seen = [(r["identity"]["run_id"], r["identity"]["attributes"]["try_number"], r["statement"]["sql"].split(" ")[0], r["phase"]) for r in records]
    assert [s for s in seen if s[1] == 1] == [
        (first, 1, "INSERT", "started"), (first, 1, "INSERT", "finished"),
        (first, 1, "SELECT", "started"),  # killed inside it: never recorded as finished (nor as failed)
    ]
    assert [s for s in seen if s[1] == 2] == [
        (second, 2, kind, phase) for kind in ("INSERT", "SELECT", "INSERT") for phase in ("started", "finished")
    ]
    assert celery.verify_ledger().ok

    # the retry's statement runs are children of the retry's task run; the killed statement never completed
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        retried = Counter(e["eventType"] for e in distinct(statement_events(celery.events(), second)))
        if retried == Counter({"START": 3, "COMPLETE": 3}):
            break
        time.sleep(1)
    assert retried == Counter({"START": 3, "COMPLETE": 3})
    killed_try = Counter(e["eventType"] for e in distinct(statement_events(celery.events(), first)))
    assert killed_try["COMPLETE"] <= 1 and not killed_try["FAIL"]  # only the INSERT before the kill can have completed
    assert celery.rejected() == []  # every event of the killed try and of the retry taken


@pytest.mark.timeout(900)
def test_only_the_api_server_holds_the_ui_signing_key(celery):
    # workers run pipeline code: one that held the key could sign its own approval
    assert celery.signing_key_holders() == ["api-server"]
    seen = celery.task_sees()
    assert seen == {"approvals_signing_key": None, "variables": [], "policy_file": str(celery.policy)}


@pytest.mark.timeout(900)
def test_an_approval_on_one_worker_lets_the_task_continue_on_any(celery):
    admin, approver = celery.api("admin"), celery.api("demo-approver")
    run_id = admin.trigger("governed_pipeline")
    request = pending_request(approver, "governed_pipeline", run_id, "drop_legacy_code")
    admin.wait_for_task("governed_pipeline", run_id, "drop_legacy_code", ["up_for_reschedule"])
    response = approver.post(f"/lineage-governance/api/approvals/{request['id']}/approve", {"note": "ok"})
    assert response.status_code == 200, response.text
    assert admin.wait_for_run("governed_pipeline", run_id) == "success", admin.states("governed_pipeline", run_id)
    assert "legacy_code" not in celery.columns("raw", "customers")
    emails = [row[0] for row in celery.warehouse("select email from mart.customer_orders order by customer_id")]
    assert emails == ["*****@example.com", "*****@example.org", "*****@example.net"]
    assert celery.verify_ledger().ok
