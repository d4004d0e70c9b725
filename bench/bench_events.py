"""Benchmark of OpenLineage event delivery (issue: OpenLineage events).

Side by side in one run, against the same local Marquez-contract HTTP server
(lineage.testing.marquez, facet validation off so the server costs little):

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
import tempfile
import time
from pathlib import Path

import duckdb

from common import check_target, print_table, summary
from lineage.catalog import Catalog
from lineage.engine import Engine
from lineage.events.emit import EventEmitter, serialize
from lineage.events.governance import GovernanceEvents
from lineage.events.naming import duckdb_namespace
from lineage.events.spool import Spool
from lineage.events.transport import client_from_config
from lineage.governor import ExecutionContext, Outcome
from lineage.identity import RunIdentity
from lineage.policy import load_policy
from lineage.testing.marquez import MarquezServer

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


def direct_client(server: MarquezServer, retries: bool = True):
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
        time.sleep(0.001)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per measurement (default 2000)")
    args = parser.parse_args()
    count = args.events - args.events % 2
    ok = True
    engine, identity, decision = statement_setup()
    events = sample_events(count, engine, identity, decision)
    from lineage.events.transport import revive

    def objects():  # fresh event_v2 objects per phase: the client adds facets to what it emits
        return [revive(json.dumps(event)) for event in events]

    print(f"{count} events of governed statements, {len(json.dumps(events[0]))} bytes each (JSON)")

    with tempfile.TemporaryDirectory() as tmp, MarquezServer(validate=False) as server:
        # baseline: direct synchronous openlineage-python emit, backend up
        client = direct_client(server)
        direct = timed_emits(client.emit, objects())
        direct_throughput = count / sum(direct)
        server.events.clear()

        # our emit, backend up: the sender runs alongside
        spool = Spool(Path(tmp) / "up.db", client_factory=lambda: client_from_config({"transport": {"type": "http", "url": server.url}}), poll_interval=0.01)
        emitter = EventEmitter([spool])
        spool_up = timed_emits(emitter.emit, objects())
        wait_until(lambda: len(server.events) == count, 120)
        spool.close()
        server.events.clear()

        # our emit, backend down; then the sender's throughput once it is back
        server.stop()
        spool = Spool(Path(tmp) / "down.db", client_factory=lambda: client_from_config({"transport": {"type": "http", "url": server.url}}),
                      backoff_base=0.01, backoff_max=0.05, poll_interval=0.01)
        emitter = EventEmitter([spool])
        spool_down = timed_emits(emitter.emit, objects())
        assert spool.status().pending == count
        server.start()
        drain = wait_until(lambda: len(server.events) == count, 300)
        sender_throughput = count / drain
        in_order = [e["run"]["runId"] for e in server.events] == [e["run"]["runId"] for e in events]
        spool.close()

        # a governed statement's two events, built and emitted (what the governor pays per statement)
        server.events.clear()
        spool = Spool(Path(tmp) / "statements.db", client_factory=lambda: client_from_config({"transport": {"type": "http", "url": server.url}}), poll_interval=0.01)
        governance = GovernanceEvents(EventEmitter([spool]), engine)
        context = ExecutionContext("duckdb", duckdb_namespace(":memory:"), "memory")
        outcome = Outcome(decision, decision.sql)

        def one_statement(number):
            numbered = ExecutionContext(context.dialect, context.namespace, context.database, number)
            governance.statement_started(identity, decision, numbered)
            governance.statement_finished(identity, decision, numbered, outcome)

        per_statement = timed_emits(one_statement, range(1, count // 2 + 1))
        wait_until(lambda: len(server.events) == count, 120)
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
        server.start()

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
    raise SystemExit(main())
