"""Tasks per minute through a real Airflow 3 deployment (LocalExecutor), plugin on and off.

    .venv/bin/python bench/bench_airflow_deployment.py [--rounds 3] [--tasks 16] [--parallelism 4]

One deployment as the README's Deploy section configures it (API server, scheduler, DAG
processor, triggerer; PostgreSQL metadata database, ledger and approvals store; events through
the spool to a local Marquez-contract server) runs the same DAG again and again: ``--tasks``
independent SQLExecuteQueryOperator tasks, four statements each on a PostgreSQL warehouse (an
insert, a masked read of a classified table, an update, a read). Between rounds only the
scheduler (with LocalExecutor the process whose children run the tasks) is restarted with
``[lineage_governance] enabled`` True or False, alternating, so both variants see the same
database, the same machine load drift, the same warm caches.

Tasks per minute = tasks / (DAG run end - DAG run start), as the REST API reports the run.
Target: with the plugin at most 5% fewer tasks per minute than without (ratio >= 0.95).

Reported separately, the per-task fixed cost: from the REST API, per variant, the median task
duration (their difference is what the plugin adds to a task) and the median wait between queued
and started (Airflow's own process start); and what a task process pays once for the plugin when
nothing was preloaded (a Celery worker's task; with LocalExecutor the scheduler preloads the core
and the policy, ``airflow_plugin.preload``): importing the plugin and the governance core, loading
the policy, reading the warehouse's catalog (which every task does), each timed cold in a fresh
process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, check_target, machine  # noqa: E402

from testkit.airflow_deployment import AirflowDeployment, User, plugin_environment  # noqa: E402
from lineage.deliver.marquez.server import MarquezServer  # noqa: E402
from testkit.postgres import ThrowawayPostgres  # noqa: E402

POLICY = ROOT / "dags_examples" / "policy.yaml"
TARGET_RATIO = 0.95

DAG_FILE = '''
import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG("bench_deployment", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False,
         max_active_tasks=64, default_args={{"owner": "data-eng", "retries": 0}}):
    for part in range({tasks}):
        SQLExecuteQueryOperator(
            task_id=f"part_{{part:03d}}",
            conn_id="warehouse",
            sql=[
                f"insert into bench.parts (dag_run_id, part, n) values ('{{{{{{{{ run_id }}}}}}}}', {{part}}, 0)",
                f"select email, city from raw.customers where id = {{part % 3 + 1}}",
                f"update bench.parts set n = n + 1 where dag_run_id = '{{{{{{{{ run_id }}}}}}}}' and part = {{part}}",
                f"select n from bench.parts where dag_run_id = '{{{{{{{{ run_id }}}}}}}}' and part = {{part}}",
            ],
        )
'''

WAREHOUSE = """
create schema raw;
create table raw.customers (id integer, full_name varchar, email varchar, ssn varchar, salary decimal(12,2), birth_date date, city varchar);
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester'),
    (3, 'Grace Hopper', 'grace@example.net', '555-12-3456', 130000, '1978-12-09', 'London');
create schema bench;
create table bench.parts (dag_run_id text, part integer, n integer);
"""

FIXED_COST = r"""
import json, sys, time
timings = {}
started = time.perf_counter()
import airflow_plugin.runtime  # the plugin and the governance core (sqlglot, pydantic models, ...)
timings["import the plugin and the core"] = time.perf_counter() - started
from lineage.policy import load_policy
started = time.perf_counter()
load_policy(sys.argv[1])
timings["load the policy"] = time.perf_counter() - started
import psycopg
from lineage.decide.catalog import Catalog
started = time.perf_counter()
with psycopg.connect(sys.argv[2]) as connection:
    Catalog.from_postgres(connection)
timings["read the warehouse's catalog (live)"] = time.perf_counter() - started
print(json.dumps(timings))
"""


def seconds(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def one_round(api, tasks: int, timeout: float) -> dict:
    run_id = api.trigger("bench_deployment")
    state = api.wait_for_run("bench_deployment", run_id, timeout=timeout)
    if state != "success":
        raise SystemExit(f"bench_deployment run {run_id} ended {state}: {api.states('bench_deployment', run_id)}\n{api.deployment.describe()}")
    run = api.dag_run("bench_deployment", run_id)
    elapsed = (seconds(run["end_date"]) - seconds(run["start_date"])).total_seconds()
    tis = api.task_instances("bench_deployment", run_id).values()
    durations = [ti["duration"] for ti in tis if ti["duration"] is not None]
    waits = [(seconds(ti["start_date"]) - seconds(ti["queued_when"])).total_seconds() for ti in tis if ti["queued_when"] and ti["start_date"]]
    return {"tasks_per_minute": tasks / elapsed * 60, "elapsed": elapsed, "durations": durations, "waits": waits}


def fixed_cost(env: dict, warehouse_dsn: str) -> dict[str, float]:
    """The plugin's once-per-task-process costs, each timed cold in a fresh process (median of 3)."""
    samples: dict[str, list[float]] = {}
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", FIXED_COST, str(POLICY), warehouse_dsn], env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise SystemExit(f"timing the fixed cost failed:\n{result.stderr[-3000:]}")
        for name, value in json.loads(result.stdout).items():
            samples.setdefault(name, []).append(value)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="DAG runs per variant, alternating (default 3)")
    parser.add_argument("--tasks", type=int, default=16, help="tasks per DAG run (default 16)")
    parser.add_argument("--parallelism", type=int, default=4, help="LocalExecutor parallelism (default 4)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one DAG run may take")
    parser.add_argument("--keep", action="store_true", help="keep the deployment's directory (logs)")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    print(f"rounds: {args.rounds} per variant, alternating; {args.tasks} tasks of 4 statements per DAG run; LocalExecutor parallelism {args.parallelism}")
    root = Path(tempfile.mkdtemp(prefix="lineage-bench-deployment-"))
    postgres = ThrowawayPostgres(settings={"max_connections": "300"}).start()
    backend = MarquezServer(validate=False).start()
    deployment = None
    try:
        import psycopg

        for database in ("airflow", "lineage", "warehouse"):
            with psycopg.connect(postgres.dsn, autocommit=True) as connection:
                connection.execute(f"create database {database}")
        with psycopg.connect(postgres.dsn_for("warehouse"), autocommit=True) as connection:
            connection.execute(WAREHOUSE)
        dag = root / "bench_deployment.py"
        dag.write_text(DAG_FILE.format(tasks=args.tasks))
        env = plugin_environment(POLICY, "prod", postgres.dsn_for("lineage"), backend.url, namespace="bench")
        env["AIRFLOW_CONN_WAREHOUSE"] = json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": postgres.port, "login": "postgres", "schema": "warehouse"})
        deployment = AirflowDeployment(
            root / "airflow", metadata_url=f"postgresql+psycopg2://postgres@127.0.0.1:{postgres.port}/airflow", dags=[dag],
            shared_env=env, parallelism=args.parallelism, users=(User("admin", "admin"),),
        )
        started = time.monotonic()
        deployment.start()
        api = deployment.api("admin")
        api.wait_for_dags(["bench_deployment"])
        print(f"deployment up in {time.monotonic() - started:.0f} s")

        results: dict[bool, list[dict]] = {True: [], False: []}
        # a first, unmeasured run warms the metadata database, the DAG's serialisation and the page cache
        one_round(api, args.tasks, args.timeout)
        enabled = True
        for number in range(args.rounds * 2):
            enabled = not enabled  # off first, then on, alternating
            deployment.restart("scheduler", {"AIRFLOW__LINEAGE_GOVERNANCE__ENABLED": str(enabled)})
            measured = one_round(api, args.tasks, args.timeout)
            results[enabled].append(measured)
            print(f"  round {number + 1}: plugin {'on ' if enabled else 'off'}  {measured['tasks_per_minute']:7.1f} tasks/min  ({args.tasks} tasks in {measured['elapsed']:.1f} s)")

        off = statistics.median(r["tasks_per_minute"] for r in results[False])
        on = statistics.median(r["tasks_per_minute"] for r in results[True])
        ratio = on / off
        print("\ntasks per minute through the scheduler (median of the rounds)")
        print(f"  plugin off: {off:7.1f}   plugin on: {on:7.1f}   ratio on/off: {ratio:.3f}")
        ok = check_target("throughput with the plugin", ratio >= TARGET_RATIO, f"ratio {ratio:.3f}, target >= {TARGET_RATIO} (at most 5% fewer tasks per minute)")

        print("\nper task (REST API, all rounds)")
        for label, variant in (("plugin off", False), ("plugin on", True)):
            durations = [d for r in results[variant] for d in r["durations"]]
            waits = [w for r in results[variant] for w in r["waits"]]
            print(f"  {label:<11} median duration {statistics.median(durations):6.2f} s   median queued -> started {statistics.median(waits):6.2f} s")
        added = statistics.median(d for r in results[True] for d in r["durations"]) - statistics.median(d for r in results[False] for d in r["durations"])
        print(f"  added by the plugin to a task's duration (median): {added:+.2f} s")

        print("\nper-task fixed cost of the plugin when nothing is preloaded (cold, median of 3 fresh processes;")
        print("LocalExecutor's scheduler preloads the first two, each task reads the catalog)")
        costs = fixed_cost(deployment.base_env(), postgres.dsn_for("warehouse"))
        for name, value in costs.items():
            print(f"  {name:<40} {value * 1000:8.1f} ms")
        print(f"  {'total':<40} {sum(costs.values()) * 1000:8.1f} ms")
        print(f"\nmachine at the end: {machine()}")
        return 0 if ok else 1
    finally:
        if deployment is not None:
            deployment.stop()
        backend.stop()
        postgres.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
