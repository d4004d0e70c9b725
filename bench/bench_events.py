"""Benchmark of OpenLineage event delivery (issue: OpenLineage events).

Side by side in one run, against the same local Marquez-contract HTTP server
(``python -m lineage.deliver.marquez.server --no-validate`` in its own process, as a real backend would
be, and cheap so that the client side is what is measured):

- openlineage-python's direct synchronous HTTP emit (``OpenLineageClient.emit``): the baseline;
- our ``emit`` into the durable spool, with the backend up and with it down;
- a governed statement's events (START + COMPLETE, built and emitted) per statement;
- sender throughput (spool -> backend) beside the direct emit's throughput;
- and what a direct emit costs while the backend is down (openlineage-python's default retries).

    .venv/bin/python bench/bench_events.py [--events 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

import duckdb

from common import check_target, print_table, run, summary
from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.deliver.emit import EventEmitter, serialize
from lineage.deliver.governance import GovernanceEvents
from lineage.deliver.naming import duckdb_namespace
from lineage.deliver.spool import Spool
from lineage.deliver.transport import client_from_config
from lineage.governor import ExecutionContext, Outcome
from lineage.identity.run_identity import RunIdentity
from lineage.policy import load_policy
from testkit.postgres import free_port

ROOT = Path(__file__).resolve().parent.parent


def statement_setup():
    """A governed INSERT ... SELECT with schema, classifications and column lineage (a typical event)."""
    connection = duckdb.connect()
    connection.execute(
        "create schema crm; create schema mart;"
        "create table crm.customers (id int, name text, email text, ssn text, salary decimal(12,2), dob date, age int, city text);"
        "create table mart.contacts (id int, email text)"
    )
    engine = Engine(load_policy(ROOT / "tests" / "data" / "policy.yaml"), Catalog.from_duckdb(connection), dialect="duckdb")
    identity = RunIdentity(principal="svc:bench", job_namespace="bench", job_name="load")
    decision = engine.check("insert into mart.contacts select id, email from crm.customers where id > 10", identity)[0]
    return engine, identity, decision


def sample_events(count: int, engine, identity, decision) -> list:
    """``count`` serialisable events (START/COMPLETE of statement runs), built before timing."""
    captured: list[str] = []

    class Capture:
        def emit(self, event, shared=None):
            captured.append(serialize(event, shared))

    events = GovernanceEvents(Capture(), engine)
    context = ExecutionContext("duckdb", duckdb_namespace(":memory:"), "memory")
    for number in range(count // 2):
        numbered = ExecutionContext(context.dialect, context.namespace, context.database, number + 1)
        events.statement_started(identity, decision, numbered)
        events.statement_finished(identity, decision, numbered, Outcome(decision, decision.sql))
    return [json.loads(body) for body in captured]


class ServerProcess:
    """The Marquez-contract test server in its own process: started, stopped, restarted on one port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        self.process = subprocess.Popen([sys.executable, "-m", "lineage.deliver.marquez.server", "--port", str(self.port), "--no-validate"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.process.stdout.readline()  # "Marquez test server on ..."
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def count(self) -> int:
        return requests.get(f"{self.url}/api/v1/events/lineage", params={"limit": 0}, timeout=5).json()["totalCount"]

    def run_ids(self, limit: int) -> list[str]:
        events = requests.get(f"{self.url}/api/v1/events/lineage", params={"limit": limit}, timeout=30).json()["events"]
        return [event["run"]["runId"] for event in reversed(events)]


def direct_client(server, retries: bool = True):
    """openlineage-python as the Airflow provider uses it: a client with the http transport."""
    from openlineage.client import OpenLineageClient

    return OpenLineageClient(config={"transport": {"type": "http", "url": server.url, "timeout": 5}})


def timed_emits(emit, items) -> list[float]:
    samples = []
    for item in items:
        started = time.perf_counter()
        emit(item)
        samples.append(time.perf_counter() - started)
    return samples


def wait_until(condition, timeout: float) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the sender did not finish in time")
        time.sleep(0.05)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per measurement (default 2000)")
    args = parser.parse_args()
    count = args.events - args.events % 2
    ok = True
    engine, identity, decision = statement_setup()
    events = sample_events(count, engine, identity, decision)
    from lineage.deliver.transport import revive

    def objects():  # fresh event_v2 objects per phase: the client adds facets to what it emits
        return [revive(json.dumps(event)) for event in events]

    print(f"{count} events of governed statements, {len(json.dumps(events[0]))} bytes each (JSON)")

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess().start()
        new_client = lambda: client_from_config({"transport": {"type": "http", "url": server.url}})  # noqa: E731
        try:
            # baseline: direct synchronous openlineage-python emit, backend up
            client = direct_client(server)
            direct = timed_emits(client.emit, objects())
            direct_throughput = count / sum(direct)
            server.stop()
            server.start()

            # our emit, backend up: the sender runs alongside
            spool = Spool(Path(tmp) / "up.db", client_factory=new_client, poll_interval=0.01)
            emitter = EventEmitter([spool])
            spool_up = timed_emits(emitter.emit, objects())
            wait_until(lambda: spool.pending() == 0, 300)
            spool.close()
            server.stop()

            # our emit, backend down; then the sender's throughput once it is back
            spool = Spool(Path(tmp) / "down.db", client_factory=new_client, backoff_base=0.01, backoff_max=0.05, poll_interval=0.01)
            emitter = EventEmitter([spool])
            spool_down = timed_emits(emitter.emit, objects())
            assert spool.status().pending == count
            server.start()
            drain = wait_until(lambda: spool.pending() == 0, 300)
            sender_throughput = count / drain
            in_order = server.run_ids(count) == [e["run"]["runId"] for e in events] and server.count() == count
            spool.close()
            server.stop()
            server.start()

            # a governed statement's two events, built and emitted (what the governor pays per statement)
            spool = Spool(Path(tmp) / "statements.db", client_factory=new_client, poll_interval=0.01)
            governance = GovernanceEvents(EventEmitter([spool]), engine)
            context = ExecutionContext("duckdb", duckdb_namespace(":memory:"), "memory")
            outcome = Outcome(decision, decision.sql)

            def one_statement(number):
                numbered = ExecutionContext(context.dialect, context.namespace, context.database, number)
                governance.statement_started(identity, decision, numbered)
                governance.statement_finished(identity, decision, numbered, outcome)

            per_statement = timed_emits(one_statement, range(1, count // 2 + 1))
            wait_until(lambda: spool.pending() == 0, 300)
            spool.close()

            # direct emit with the backend down: openlineage-python's default retries, then the event is lost
            server.stop()
            down_client = direct_client(server)
            lost = []
            for event in objects()[:2]:
                started = time.perf_counter()
                try:
                    down_client.emit(event)
                except Exception:
                    pass
                lost.append(time.perf_counter() - started)
        finally:
            server.stop()

    rows = [
        ("openlineage-python direct HTTP emit (baseline)", summary(direct)),
        ("lineage spool emit, backend up", summary(spool_up)),
        ("lineage spool emit, backend down", summary(spool_down)),
        ("governed statement: START+COMPLETE built+emitted", summary(per_statement)),
        ("direct HTTP emit, backend down (default retries)", summary(lost)),
    ]
    print_table("emit latency, per call (what the pipeline waits)", rows, baseline="openlineage-python direct HTTP emit (baseline)")
    print("\nthroughput")
    print(f"  openlineage-python direct HTTP emit     {direct_throughput:8.0f} events/s (the pipeline waits for each)")
    print(f"  spool sender, backlog of {count} events   {sender_throughput:8.0f} events/s (in the background, in order: {in_order})")
    print(f"  ratio sender / direct                   {sender_throughput / direct_throughput:8.2f}x")

    print("\ntargets")
    up, down = summary(spool_up), summary(spool_down)
    ok &= check_target("emit median well under 1 ms, backend up", up["median_ms"] < 0.5, f"{up['median_ms'] * 1000:.0f} us")
    ok &= check_target("emit median well under 1 ms, backend down", down["median_ms"] < 0.5, f"{down['median_ms'] * 1000:.0f} us")
    ok &= check_target("emit faster than a direct HTTP emit", up["median_ms"] < summary(direct)["median_ms"],
                       f"{summary(direct)['median_ms'] / up['median_ms']:.1f}x faster")
    ok &= check_target("sender delivers the backlog in order", in_order, str(in_order))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run(main))
