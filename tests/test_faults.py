"""Faults an operator meets, injected for real: a slow, failing or killed backend, a process killed
with -9, damaged spool files, the ledger's PostgreSQL stopped and restarted mid-statement.

What every test holds the system to (the numbers in docs/events.md): no event lost, each event at the
backend at most twice (at most one duplicate per fault), order kept within each run, and the
pipeline's own call never raising because of delivery. Timeouts are configured short here so
the whole file stays quick; the mechanisms are the same at the defaults.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineage.deliver.emit import serialize
from lineage.deliver.spool import Spool
from lineage.deliver.transport import client_from_config
from lineage.deliver.marquez.server import MarquezServer

from delivery_support import run_events, wait_for

ROOT = Path(__file__).resolve().parent.parent
LINEAGE = str(Path(sys.executable).parent / "lineage")


def http_client(server: MarquezServer, timeout: float):
    return lambda: client_from_config({"transport": {"type": "http", "url": server.url, "timeout": timeout}})


def plain(events) -> list[dict]:
    return [json.loads(serialize(event)) for event in events]


def identity(event: dict) -> tuple:
    return (event["run"]["runId"], event["eventType"], event["eventTime"])


def all_arrived(server: MarquezServer, events: list[dict]) -> bool:
    arrived = {identity(event) for event in list(server.events)}
    return all(identity(event) in arrived for event in events)


def in_order_per_run(arrived: list[dict], expected: list[dict]) -> bool:
    """Each run's events first arrived in the order they were emitted."""
    first: dict[tuple, int] = {}
    for position, event in enumerate(arrived):
        first.setdefault(identity(event), position)
    runs: dict[str, list[int]] = {}
    for event in expected:
        runs.setdefault(event["run"]["runId"], []).append(first[identity(event)])
    return all(positions == sorted(positions) for positions in runs.values())


def copies(server: MarquezServer, events: list[dict]) -> list[int]:
    return [server.copies(event) for event in events]


# -- a slow backend -------------------------------------------------------------------------------


def test_a_slow_backend_gets_every_event_at_most_twice_and_order_holds_per_run(tmp_path):
    """Answers slower than the timeout (0.2 s against 0.1 s): the first send gets no answer, the
    sender waits longer from then on, the event goes again once; everything arrives."""
    with MarquezServer() as server:
        server.slow_down(0.2)
        spool = Spool(tmp_path / "spool.db", client_factory=http_client(server, 0.1), backoff_base=0.05, backoff_max=0.2, poll_interval=0.05)
        try:
            events = plain(run_events(20))
            for event in events:
                assert spool.write(json.dumps(event, sort_keys=True))
            assert wait_for(lambda: all_arrived(server, events), timeout=40), f"{len(server.events)} of {len(events)} arrived"
            sent = copies(server, events)
            assert max(sent) <= 2, sent  # at most twice
            assert sum(sent) - len(events) <= 2, sent  # one fault: one duplicate (two if load stretches an answer past the longer wait)
            assert in_order_per_run(list(server.events), events)
            assert wait_for(lambda: spool.status().pending == 0)
            assert spool.status().held == 0
        finally:
            spool.close()


def test_an_event_without_answers_is_held_after_two_sends_and_status_shows_it(tmp_path, cli):
    with MarquezServer() as server:
        server.slow_down(1.0)  # slower than the longest wait (0.3 s): no send is ever answered
        spool = Spool(tmp_path / "spool.db", client_factory=http_client(server, 0.1), backoff_base=0.05, backoff_max=0.2,
                      poll_interval=0.05, max_timeout=0.3)
        events = plain(run_events(4))
        try:
            for event in events:
                spool.write(json.dumps(event, sort_keys=True))
            assert wait_for(lambda: spool.status().held == 2, timeout=20)  # both runs' first events
            time.sleep(1.0)  # the server takes late copies in as well
            assert max(copies(server, events)) <= 2  # never a third time on its own
            status = cli("events", "status", "--spool", str(spool.path))
            assert status.code == 1
            assert "held       2 event(s)" in status.out and f"run:{events[0]['run']['runId']}" in status.out
            assert "lineage events requeue --held" in status.out
            as_json = cli("events", "status", "--spool", str(spool.path), "--format", "json").json()
            assert as_json["held"] == 2 and as_json["pending"] == 4 and as_json["held_events"][0]["sends"] == 2
            server.slow_down(0)
            released = cli("events", "requeue", "--held", "--spool", str(spool.path))
            assert released.code == 0 and "released 2 held event(s)" in released.out
            assert wait_for(lambda: all_arrived(server, events), timeout=20)
            assert max(copies(server, events)) <= 3  # the operator's one more send
            assert in_order_per_run(list(server.events), events)
            assert wait_for(lambda: spool.status().pending == 0)
        finally:
            spool.close()


def test_one_failing_run_does_not_hold_the_others(tmp_path, cli):
    with MarquezServer() as server:
        events = plain(run_events(12))
        stuck = events[0]["run"]["runId"]
        server.fail_run(stuck, 500)  # the oldest event's run fails, again and again
        spool = Spool(tmp_path / "spool.db", client_factory=http_client(server, 1.0), backoff_base=0.05, backoff_max=0.2, poll_interval=0.05)
        try:
            for event in events:
                spool.write(json.dumps(event, sort_keys=True))
            others = [event for event in events if event["run"]["runId"] != stuck]
            assert wait_for(lambda: all_arrived(server, others), timeout=20)
            assert not any(event["run"]["runId"] == stuck for event in server.events)
            assert in_order_per_run(list(server.events), others)
            # the last of the others arrived; the spool marks it delivered once the answer is back
            def spool_status() -> dict:
                return cli("events", "status", "--spool", str(spool.path), "--format", "json").json()

            assert wait_for(lambda: spool_status()["pending"] == 2, timeout=20), spool_status()
            status = spool_status()
            assert status["retrying"] >= 1
            assert status["retrying_oldest"]["order"] == f"run:{stuck}" and "HTTP 500" in status["retrying_oldest"]["last_error"]
            server.fail_run(stuck, None)
            assert wait_for(lambda: all_arrived(server, events), timeout=20)
            assert in_order_per_run(list(server.events), events)  # the stuck run's COMPLETE still came after its START
            assert max(copies(server, events)) == 1  # failures the backend answered are never duplicates
        finally:
            spool.close()


EMITTER = r"""
import json, os, sys
from lineage.deliver.build import job_event
from lineage.deliver.emit import emitter_from_environment
from lineage.identity.run_identity import RunIdentity
from openlineage.client.event_v2 import RunState

emitter = emitter_from_environment()
for number in range(int(sys.argv[1])):
    identity = RunIdentity(principal="svc:test", job_namespace="faults", job_name=f"job{number:05d}")
    for state in (RunState.START, RunState.COMPLETE):
        emitter.emit(job_event(state, identity, job_type="JOB"))  # never raises: the test would see it
print("emitted", flush=True)
import time
time.sleep(600)  # killed by the test
"""


def test_an_emitter_killed_while_the_backend_is_slow_loses_nothing(tmp_path, cli):
    with MarquezServer() as server:
        server.slow_down(0.02)
        spool_path = tmp_path / "spool.db"
        env = {**os.environ, "OPENLINEAGE_URL": server.url, "LINEAGE_EVENTS_SPOOL": str(spool_path), "LINEAGE_EVENTS_FILE": str(tmp_path / "events.jsonl")}
        env.pop("OPENLINEAGE_DISABLED", None)
        emitter = subprocess.Popen([sys.executable, "-c", EMITTER, "150"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert emitter.stdout.readline().strip() == "emitted"
            assert wait_for(lambda: len(server.events) >= 40, timeout=30)
        finally:
            emitter.send_signal(signal.SIGKILL)  # mid-delivery: one event may be on the wire
            emitter.wait(timeout=10)
        flush = subprocess.run([LINEAGE, "events", "flush", "--spool", str(spool_path), "--timeout", "60"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
        assert flush.returncode == 0, flush.stdout + flush.stderr
        expected = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        assert len(expected) == 300
        assert all_arrived(server, expected)  # lost 0
        sent = copies(server, expected)
        assert max(sent) <= 2 and sum(sent) - len(expected) <= 1, [n for n in sent if n > 1]  # one kill: at most one duplicate
        assert in_order_per_run(list(server.events), expected)


# -- a damaged spool ------------------------------------------------------------------------------


def damaged_spool(tmp_path: Path, shape: str) -> Path:
    """A spool holding 500 pending events (the backend was down), then damaged as ``shape``."""
    path = tmp_path / "spool" / "events.db"
    spool = Spool(path, sender=False, exit_wait=0)
    for event in run_events(500):
        spool.write(serialize(event))
    spool.close()
    assert not Path(f"{path}-wal").exists()  # everything is in the main file
    size = path.stat().st_size
    if shape == "truncated":
        with path.open("r+b") as handle:
            handle.truncate(size // 2)
    elif shape == "garbage-in-the-middle":
        with path.open("r+b") as handle:
            handle.seek(size // 2)
            handle.write(os.urandom(8192))
    elif shape == "garbage-header":
        with path.open("r+b") as handle:
            handle.write(os.urandom(100))
    elif shape == "zero-length":
        with path.open("r+b") as handle:
            handle.truncate(0)
    elif shape == "directory":
        path.unlink()
        path.mkdir()
        (path / "stray.txt").write_text("not a spool")
    return path


PIPELINE = r"""
import json, sys
import duckdb
from airflow_plugin.runtime import Runtime
from airflow_plugin.settings import Settings
from lineage.decide.engine import Engine
from lineage.deliver.emit import emitter_from_environment
from lineage.deliver.build import job_event
from lineage.governor import Governor
from lineage.identity.run_identity import RunIdentity
from lineage.policy import default_policy
from openlineage.client.event_v2 import RunState

spool, url = sys.argv[1], sys.argv[2]
settings = Settings(events_spool=spool, events_transport=json.dumps({"type": "http", "url": url, "timeout": 2}))
engine = Engine(default_policy(), dialect="duckdb")
events = Runtime(settings, default_policy()).events_for(engine)  # an Airflow task's first step
connection = duckdb.connect()
governor = Governor(engine, events=events)
identity = RunIdentity(principal="svc:etl", job_namespace="faults", job_name="task")
for _ in range(3):
    governor.execute("select 42", identity, lambda sql: connection.execute(sql).fetchall(), None)
emitter = emitter_from_environment(spool=spool)  # the dbt runner's and the DB-API's way in
for number in range(4):
    emitter.emit(job_event(RunState.START, RunIdentity(principal="svc:etl", job_namespace="faults", job_name=f"after{number}"), job_type="JOB"))
print("pipeline ran", flush=True)
"""

SHAPES = {
    "truncated": "malformed",
    "garbage-in-the-middle": "malformed",
    "garbage-header": "does not start with SQLite's header",
    "zero-length": "empty (0 bytes)",
    "directory": "a directory is where the spool file should be",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_damaged_spool_never_fails_the_pipeline(tmp_path, shape, cli, monkeypatch):
    path = damaged_spool(tmp_path, shape)
    with MarquezServer() as server:
        env = {**os.environ, "OPENLINEAGE_URL": server.url, "LINEAGE_EVENTS_EXIT_WAIT": "0"}
        env.pop("OPENLINEAGE_DISABLED", None)
        run = subprocess.run([sys.executable, "-c", PIPELINE, str(path), server.url], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "pipeline ran" in run.stdout, run.stderr[-3000:]
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        assert run.stderr.count("was damaged") == 1, run.stderr[-3000:]  # warned once
        status = cli("events", "status", "--spool", str(path), "--format", "json")
        assert status.code == 1
        quarantined = status.json()["quarantined"]
        assert len(quarantined) == 1 and Path(quarantined[0]["file"]).exists()
        if shape != "truncated" and shape != "garbage-in-the-middle":
            assert SHAPES[shape] in quarantined[0]["reason"], quarantined
        text = cli("events", "status", "--spool", str(path))
        assert "quarantined 1" in text.out and quarantined[0]["file"] in text.out
        monkeypatch.setenv("OPENLINEAGE_URL", server.url)
        flush = cli("events", "flush", "--spool", str(path), "--timeout", "60")
        assert flush.code == 0, flush.out
        arrived = list(server.events)
    jobs = {event["job"]["name"] for event in arrived}
    assert {f"after{number}" for number in range(4)} <= jobs  # every event after the damage arrived
    statements = [identity(event) for event in arrived if event["job"]["name"].startswith("task.query.")]
    assert len(set(statements)) == 6  # 3 statements, START and COMPLETE: none lost
    assert len(statements) <= 7  # the pipeline process ended mid-send at worst once: one duplicate
    salvaged = [event for event in arrived if event["job"]["name"].startswith("job")]
    if shape in ("truncated", "garbage-in-the-middle"):
        assert salvaged, "the readable part of the damaged spool was salvaged"
    assert len({identity(event) for event in salvaged}) == len(salvaged)  # salvaged once, sent once


def test_a_zero_length_spool_is_reported_not_silently_reused(tmp_path, cli, caplog):
    path = damaged_spool(tmp_path, "zero-length")
    spool = Spool(path, sender=False, exit_wait=0)
    try:
        status = spool.status()
        assert status.pending == 0
        assert len(status.quarantined) == 1 and "whatever events it held are lost" in status.quarantined[0]["reason"]
    finally:
        spool.close()
    assert "was damaged" in caplog.text and "empty (0 bytes)" in caplog.text


# -- the ledger's PostgreSQL stopped and restarted --------------------------------------------------

import threading  # noqa: E402

import psycopg  # noqa: E402

from lineage.decide.engine import Engine  # noqa: E402
from lineage.governor import Governor, OutcomeUnknown  # noqa: E402
from lineage.identity.run_identity import RunIdentity  # noqa: E402
from lineage.record import LedgerError, open_ledger  # noqa: E402
from lineage.policy import default_policy  # noqa: E402


@pytest.fixture(scope="module")
def ledger_server():
    """A PostgreSQL of the ledger's own, which these tests stop and start (the targets live on the session's)."""
    from testkit.postgres import ThrowawayPostgres

    server = ThrowawayPostgres().start()
    try:
        yield server
    finally:
        server.stop()


def _fresh_database(server, name: str) -> str:
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.dsn_for(name)


@pytest.fixture
def ledger_url(ledger_server, request):
    try:
        psycopg.connect(ledger_server.dsn, connect_timeout=2).close()
    except psycopg.Error:
        ledger_server.resume()  # a test before this one left it stopped
    return _fresh_database(ledger_server, "ledger_" + request.node.name.replace("test_", "")[:40].lower())


@pytest.fixture
def target(postgres, request):
    dsn = _fresh_database(postgres, "target_" + request.node.name.replace("test_", "")[:40].lower())
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE orders (id int, batch int)")
    return dsn


def _rows(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute("SELECT count(*) FROM orders").fetchone()[0]


def _phases(url: str) -> list[str]:
    with open_ledger(url, create=False) as ledger:
        return [entry.body.get("phase") or entry.body["kind"] for entry in ledger.entries()]


def _governor(ledger, retry_guard=None) -> Governor:
    return Governor(Engine(default_policy()), ledger=ledger, retry_guard=retry_guard)


def _run_on(dsn: str):
    connection = psycopg.connect(dsn, autocommit=True)
    return connection, lambda sql: connection.execute(sql)


def _task_try(number: int) -> RunIdentity:
    """An Airflow task try's identity (run ids as the OpenLineage provider derives them)."""
    from datetime import datetime, timezone

    from airflow_plugin.identity import identity_from_facts

    facts = {"dag_id": "shop", "task_id": "load", "dag_run_id": "manual__1", "try_number": number, "map_index": -1, "owner": "etl",
             "triggering_user": None, "run_type": "scheduled", "logical_date": datetime(2026, 5, 9, tzinfo=timezone.utc), "clear_number": 0}
    return identity_from_facts(facts, default_policy(), "prod")


def _waiting_on_lock(dsn: str, timeout: float = 20.0) -> bool:
    def waiting() -> bool:
        with psycopg.connect(dsn, autocommit=True) as probe:
            return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO orders%'").fetchone()[0] > 0

    return wait_for(waiting, timeout)


def test_after_the_ledgers_postgres_restarts_the_next_statement_reconnects(ledger_server, ledger_url, target):
    ledger = open_ledger(ledger_url)
    governor = _governor(ledger)
    identity = RunIdentity(principal="svc:etl", job_name="nightly")
    connection, run = _run_on(target)
    try:
        governor.execute("INSERT INTO orders VALUES (1, 1)", identity, run)
        ledger_server.restart("fast")  # every session of the ledger's server ends
        governor.execute("INSERT INTO orders VALUES (2, 1)", identity, run)  # one transparent reconnect
    finally:
        connection.close()
    assert _rows(target) == 2
    assert _phases(ledger_url) == ["started", "finished", "started", "finished"]  # each record once
    assert ledger.verify().ok


def test_the_ledger_restarted_during_a_statement_records_its_end_once(ledger_server, ledger_url, target):
    ledger = open_ledger(ledger_url)
    governor = _governor(ledger)
    identity = RunIdentity(principal="svc:etl", job_name="nightly")
    connection, run = _run_on(target)

    def run_while_the_ledger_restarts(sql: str):
        ledger_server.restart("fast")  # after `started` was recorded, before the end is
        return run(sql)

    try:
        (outcome,) = governor.execute("INSERT INTO orders VALUES (1, 1)", identity, run_while_the_ledger_restarts, rowcount=lambda cursor: cursor.rowcount)
    finally:
        connection.close()
    assert outcome.rowcount == 1 and _rows(target) == 1
    assert _phases(ledger_url) == ["started", "finished"]
    assert ledger.verify().ok


def test_with_the_ledger_down_a_statement_fails_closed_before_it_runs(ledger_server, ledger_url, target):
    ledger = open_ledger(ledger_url)
    governor = _governor(ledger)
    connection, run = _run_on(target)
    ledger_server.halt("fast")
    try:
        with pytest.raises(LedgerError, match="connect"):
            governor.execute("INSERT INTO orders VALUES (1, 1)", RunIdentity(principal="svc:etl"), run)
    finally:
        connection.close()
        ledger_server.resume()
    assert _rows(target) == 0


def test_the_ledger_stopped_mid_statement_gives_an_unknown_outcome_that_a_retry_does_not_run_blind(ledger_server, ledger_url, target, cli):
    """The issue's case: the INSERT commits while the ledger's server is down; the caller is told it
    may have run, the ledger holds `started`, the task's retry refuses it until it is settled."""
    first_try, second_try = _task_try(1), _task_try(2)
    from airflow_plugin.identity import earlier_task_runs
    from lineage.record.outcomes import RetryGuard

    assert earlier_task_runs(second_try) == [first_try.run_id]
    blocker = psycopg.connect(target)
    blocker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")  # the INSERT waits on it: a long statement
    caught: list[BaseException] = []
    connection, run = _run_on(target)

    def first() -> None:
        try:
            _governor(open_ledger(ledger_url)).execute("INSERT INTO orders VALUES (42, 7)", first_try, run, rowcount=lambda cursor: cursor.rowcount)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            caught.append(error)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert _waiting_on_lock(target)
        ledger_server.halt("fast")  # the ledger's server goes down while the INSERT runs
        blocker.rollback()  # the INSERT goes through and commits
        worker.join(60)
    finally:
        blocker.close()
        connection.close()
        ledger_server.resume()
    assert _rows(target) == 1  # it ran
    (error,) = caught
    assert isinstance(error, OutcomeUnknown), repr(error)
    assert "the statement may have run" in str(error) and f"lineage ledger reconcile --seq {error.started}" in str(error)
    assert _phases(ledger_url) == ["started"]  # the end is unknown to the ledger

    listed = cli("ledger", "reconcile", "--ledger", ledger_url, "--format", "json")
    assert listed.code == 1 and [row["seq"] for row in listed.json()] == [error.started]
    assert listed.json()[0]["run_id"] == first_try.run_id and listed.json()[0]["tables_written"] == ["public.orders"]

    ledger = open_ledger(ledger_url)
    retry = _governor(ledger, RetryGuard(ledger, earlier_task_runs))
    connection, run = _run_on(target)
    try:
        with pytest.raises(OutcomeUnknown, match=f"earlier try .*ledger record {error.started}\\)"):
            retry.execute("INSERT INTO orders VALUES (42, 7)", second_try, run)
        assert _rows(target) == 1  # not run blind
        retry.execute("SELECT count(*) FROM orders", second_try, run)  # other statements of the task still run

        no_evidence = cli("ledger", "reconcile", "--ledger", ledger_url, "--seq", str(error.started), "--ran")
        assert no_evidence.code == 2 and "--evidence is required" in no_evidence.err
        settled = cli("ledger", "reconcile", "--ledger", ledger_url, "--seq", str(error.started), "--ran", "--rows", "1",
                      "--evidence", "order 42 of batch 7 is in orders once", "--by", "alice@corp")
        assert settled.code == 0 and f"settled record {error.started} as ran" in settled.out
        assert cli("ledger", "reconcile", "--ledger", ledger_url).code == 0
        again = cli("ledger", "reconcile", "--ledger", ledger_url, "--seq", str(error.started), "--not-run", "--evidence", "x")
        assert again.code == 2 and "already recorded or settled" in again.err
        third_try = _governor(open_ledger(ledger_url), RetryGuard(open_ledger(ledger_url), earlier_task_runs))
        third_try.execute("SELECT 1", _task_try(3), run)  # settled: the guard lets the task go on
    finally:
        connection.close()
    settlement = [entry.body for entry in open_ledger(ledger_url).entries() if entry.body["kind"] == "outcome_settled"]
    assert settlement[0]["payload"]["outcome"] == "ran" and settlement[0]["payload"]["settled_by"] == "alice@corp"
    assert open_ledger(ledger_url).verify().ok


def test_a_connection_lost_mid_statement_is_recorded_as_unknown(ledger_url, target, cli):
    """The target's session ends while the statement runs: it may or may not have committed."""
    ledger = open_ledger(ledger_url)
    blocker = psycopg.connect(target)
    blocker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
    connection, run = _run_on(target)
    caught: list[BaseException] = []

    def statement() -> None:
        try:
            _governor(ledger).execute("INSERT INTO orders VALUES (1, 1)", RunIdentity(principal="svc:etl"), run)
        except BaseException as error:  # noqa: BLE001
            caught.append(error)

    worker = threading.Thread(target=statement)
    worker.start()
    try:
        assert _waiting_on_lock(target)
        with psycopg.connect(target, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO orders%' AND pid <> pg_backend_pid()")
        worker.join(60)
    finally:
        blocker.rollback()
        blocker.close()
        connection.close()
    (error,) = caught
    assert isinstance(error, OutcomeUnknown) and "the connection to the database was lost" in str(error)
    assert "the statement may have run" in str(error)
    assert _phases(ledger_url) == ["started", "unknown"]
    listed = cli("ledger", "reconcile", "--ledger", ledger_url, "--format", "json")
    assert listed.code == 1 and listed.json()[0]["seq"] == error.started
    assert _rows(target) == 0  # here it had not: the operator settles it so
    wrong = cli("ledger", "reconcile", "--ledger", ledger_url, "--seq", str(error.started + 1), "--not-run", "--evidence", "x")
    assert wrong.code == 2 and "not the started record of a statement (it is a statement unknown record)" in wrong.err
    settled = cli("ledger", "reconcile", "--ledger", ledger_url, "--seq", str(error.started), "--not-run", "--evidence", "no row in orders")
    assert settled.code == 0
