"""Benchmark of the ledger (issue: run identity and tamper-evident ledger).

Appends per second with 1 and 8 concurrent writer processes, on SQLite and on PostgreSQL,
each beside a plain INSERT of the same rows into a table of the same shape and indexes
without the chain, in the same run and under the same settings (alternating rounds, medians). Also the whole per-statement cost from the governor's
side (build the literal-free record from a decision, then append).

    .venv/bin/python bench/bench_ledger.py [--appends 2000] [--durable]

The PostgreSQL server is a throwaway one started here (testkit/postgres.py), with
the test settings (fsync=off, synchronous_commit=off) unless ``--durable`` asks for
fsync=on and synchronous_commit=on. SQLite runs in WAL mode with synchronous=FULL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from common import check_target, run
from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.record import canonical_json, open_ledger
from lineage.record.chain import derived_columns
from lineage.record.record import statement_record
from lineage.policy import load_policy
from testkit.postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parent.parent
STATEMENTS = [
    "select c.id, c.email, o.amount from crm.customers c join crm.orders o on o.customer_id = c.id where c.ssn = '123-45-6789'",
    "insert into mart.order_totals select customer_id, sum(amount) from crm.orders group by customer_id",
    "update crm.orders set status = 'paid' where id = 42",
    "delete from crm.orders",
]

# the baseline table has the ledger's shape and indexes, without the chain columns and head row
PLAIN_SQLITE = [
    "CREATE TABLE plain_rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL, time TEXT, kind TEXT, run_id TEXT, principal TEXT, action TEXT)",
    "CREATE INDEX plain_rows_run_id ON plain_rows (run_id)",
    "CREATE INDEX plain_rows_principal ON plain_rows (principal)",
    "CREATE INDEX plain_rows_time ON plain_rows (time)",
]
PLAIN_POSTGRES = [statement.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY") for statement in PLAIN_SQLITE]


def sample_rows(count: int) -> list[tuple[str, dict]]:
    """Realistic statement records (decisions of the example policy), as canonical JSON and columns."""
    engine = Engine(load_policy(ROOT / "tests/data/policy.yaml"), Catalog.from_json_file(ROOT / "tests/data/catalog.json"), dialect="postgres")
    identity = RunIdentity(principal="svc:etl", environment="prod", job_name="bench")
    decisions = [engine.check(sql, identity)[0] for sql in STATEMENTS]
    rows = []
    for number in range(count):
        decision = decisions[number % len(decisions)]
        body = statement_record(identity, decision, "finished" if decision.may_run else "refused", {"rows": number, "duration_ms": 1.5})
        rows.append((canonical_json(body), derived_columns(body)))
    return rows


# -- one writer's work (runs in a worker process) ---------------------------------------------


def chained(url: str, rows) -> None:
    ledger = open_ledger(url)
    for text, columns in rows:
        ledger._append(text, columns)
    ledger.close()


def plain(url: str, rows) -> None:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            for text, columns in rows:
                connection.execute(
                    "INSERT INTO plain_rows (body, time, kind, run_id, principal, action) VALUES (%s, %s, %s, %s, %s, %s)",
                    (text, columns["time"], columns["kind"], columns["run_id"], columns["principal"], columns["action"]),
                )
        return
    from lineage.record.sqlite import retry_while_locked  # the same fair retry the ledger uses, so only the chain differs

    connection = sqlite3.connect(url, timeout=0, isolation_level=None)
    retry_while_locked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
    connection.execute("PRAGMA synchronous=FULL")
    for text, columns in rows:
        values = (text, columns["time"], columns["kind"], columns["run_id"], columns["principal"], columns["action"])
        retry_while_locked(lambda: connection.execute("INSERT INTO plain_rows (body, time, kind, run_id, principal, action) VALUES (?, ?, ?, ?, ?, ?)", values))
    connection.close()


def _worker(function, url, rows, ready, go, done):
    if function is chained:
        open_ledger(url).close()  # connect and migrate before the clock starts
    ready.put(1)
    go.wait()
    started = time.perf_counter()
    function(url, rows)
    done.put((started, time.perf_counter()))


def appends_per_second(function, url: str, rows, writers: int) -> float:
    """Wall-clock rate of ``writers`` processes appending ``rows`` between them, released together."""
    context = multiprocessing.get_context("fork")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    share = len(rows) // writers
    processes = [context.Process(target=_worker, args=(function, url, rows[i * share:(i + 1) * share], ready, go, done)) for i in range(writers)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)
    go.set()
    spans = [done.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return share * writers / elapsed


def record_rate(url: str, count: int) -> float:
    """The governor's view: build the literal-free record from a decision, then append it."""
    engine = Engine(load_policy(ROOT / "tests/data/policy.yaml"), Catalog.from_json_file(ROOT / "tests/data/catalog.json"), dialect="postgres")
    identity = RunIdentity(principal="svc:etl", environment="prod", job_name="bench")
    decisions = [engine.check(sql, identity)[0] for sql in STATEMENTS]
    ledger = open_ledger(url)
    started = time.perf_counter()
    for number in range(count):
        ledger.record_statement(identity, decisions[number % len(decisions)], "finished", rows=number, duration_ms=1.5)
    rate = count / (time.perf_counter() - started)
    ledger.close()
    return rate


def run_backend(name: str, ledger_url: str, plain_url: str, rows, results: dict, rounds: int) -> None:
    """Chained and plain measurements alternate over ``rounds``, and the medians are compared, so a
    burst of someone else's disk or CPU use does not land on one side only."""
    print(f"\n{name}: {len(rows)} appends per measurement, median of {rounds} alternating rounds")
    print(f"  {'writers':>7} {'chained appends/s':>18} {'plain INSERT/s':>15} {'chained cost':>13}   (rounds: chained/plain)")
    chunk = len(rows) // rounds
    for writers in (1, 8):
        chain_rates, plain_rates = [], []
        for round_ in range(rounds):
            part = rows[round_ * chunk:(round_ + 1) * chunk]
            chain_rates.append(appends_per_second(chained, ledger_url, part, writers))
            plain_rates.append(appends_per_second(plain, plain_url, part, writers))
        chain_rate, plain_rate = statistics.median(chain_rates), statistics.median(plain_rates)
        ratio = plain_rate / chain_rate
        results[(name, writers)] = (chain_rate, plain_rate, ratio)
        spread = " ".join(f"{c / 1000:.1f}k/{p / 1000:.1f}k" for c, p in zip(chain_rates, plain_rates))
        print(f"  {writers:>7} {chain_rate:>18,.0f} {plain_rate:>15,.0f} {ratio:>12.2f}x   ({spread})")
    verification = open_ledger(ledger_url).verify()
    print(f"  chain after the runs: {'intact' if verification.ok else 'BROKEN'} ({verification.records} records)")
    results[(name, "verify")] = verification.ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=4000, help="appends per measurement (default 4000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating chained/plain rounds (default 5)")
    parser.add_argument("--durable", action="store_true", help="PostgreSQL with fsync=on and synchronous_commit=on")
    args = parser.parse_args()
    rows = sample_rows(args.appends)
    print(f"record size: median {sorted(len(text) for text, _ in rows)[len(rows) // 2]} bytes of canonical JSON")
    results: dict = {}

    with tempfile.TemporaryDirectory() as directory:
        ledger_path = Path(directory) / "ledger.db"
        plain_path = Path(directory) / "plain.db"
        open_ledger(ledger_path).close()
        with sqlite3.connect(plain_path) as connection:
            for statement in PLAIN_SQLITE:
                connection.execute(statement)
        run_backend("SQLite (WAL, synchronous=FULL)", str(ledger_path), str(plain_path), rows, results, args.rounds)
        sqlite_record = record_rate(str(Path(directory) / "record.db"), min(args.appends, 2000))

    settings = {"fsync": "on", "synchronous_commit": "on"} if args.durable else {}
    with ThrowawayPostgres(settings=settings) as server:
        import psycopg

        with psycopg.connect(server.dsn, autocommit=True) as connection:
            for statement in PLAIN_POSTGRES:
                connection.execute(statement)
        open_ledger(server.dsn).close()
        label = "fsync=on, synchronous_commit=on" if args.durable else "fsync=off, synchronous_commit=off"
        run_backend(f"PostgreSQL 15 ({label})", server.dsn, server.dsn, rows, results, args.rounds)
        postgres_record = record_rate(server.dsn, min(args.appends, 2000))

    print("\nper governed statement (record_statement: build the literal-free record, then append; 1 writer)")
    print(f"  SQLite      {sqlite_record:>8,.0f} records/s  ({1000 / sqlite_record:.3f} ms each)")
    print(f"  PostgreSQL  {postgres_record:>8,.0f} records/s  ({1000 / postgres_record:.3f} ms each)")

    print("\ntargets")
    ok = True
    for key, value in results.items():
        if key[1] == "verify":
            ok &= check_target(f"{key[0]}: chain verifies after concurrent appends", value, "intact" if value else "broken")
        else:
            ok &= check_target(f"{key[0]}, {key[1]} writer(s): chaining costs at most 2x a plain INSERT", value[2] <= 2.0, f"{value[2]:.2f}x")
    pg_eight = next(value for key, value in results.items() if key[0].startswith("PostgreSQL") and key[1] == 8)
    ok &= check_target("PostgreSQL, 8 writers: at least 2,000 appends/s", pg_eight[0] >= 2000, f"{pg_eight[0]:,.0f}/s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run(main))
