"""Benchmark: ``lineage dbt build`` against plain ``dbt build`` on the example project (DuckDB).

Both run as the commands people type, in subprocesses, on one private copy of
dags_examples/dbt_project, alternating, after a warm-up of each (partial parsing on and Python
bytecode cached, as in everyday use). ``lineage dbt`` does its whole job: pre-flight over every node, the plan for the
macros, a ledger record per statement (before and after), OpenLineage events per node into a
JSONL file. Target: at most 5% added wall time (medians).

    .venv/bin/python bench/bench_dbt_build.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, check_target, run

from testkit.dbt_project import example_project, project_env

BIN = Path(sys.executable).parent
TARGET = 0.05


def timed_run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="timed runs of each (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as scratch:
        scratch = Path(scratch)
        project = example_project(scratch / "governed_shop")
        env = project_env(
            project, duckdb=scratch / "governed_shop.duckdb",
            LINEAGE_LEDGER_URL=str(scratch / "ledger.db"), LINEAGE_APPROVALS_URL=f"sqlite:///{scratch / 'approvals.db'}",
            LINEAGE_EVENTS_FILE=str(scratch / "events.jsonl"), LINEAGE_PRINCIPAL="svc:dbt-bench",
        )
        # bytecode cached as an installed package has it (this machine sets PYTHONDONTWRITEBYTECODE,
        # which would make both commands compile every module they import on every run)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
        plain = [str(BIN / "dbt"), "build", "--quiet"]
        governed = [str(BIN / "lineage"), "dbt", "--policy", str(ROOT / "dags_examples" / "dbt_project" / "policy.yaml"), "build", "--quiet"]
        for command in (plain, governed):  # warm-up: partial parse files, seeds loaded, OS caches
            timed_run(command, project, env)
        times: dict[str, list[float]] = {"dbt build": [], "lineage dbt build": []}
        for _ in range(args.rounds):
            times["dbt build"].append(timed_run(plain, project, env))
            times["lineage dbt build"].append(timed_run(governed, project, env))
        events = sum(1 for _ in open(scratch / "events.jsonl"))
    base = statistics.median(times["dbt build"])
    ours = statistics.median(times["lineage dbt build"])
    print(f"\nexample project (2 seeds, 5 models, 6 tests; DuckDB), {args.rounds} alternating runs each, wall time of the command")
    print(f"  {'command':<22} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, samples in times.items():
        print(f"  {name:<22} {statistics.median(samples):>9.3f} {min(samples):>7.3f} {max(samples):>7.3f}")
    added = ours / base - 1.0
    print(f"  added wall time: {added * 100:+.1f}% ({(ours - base) * 1000:+.0f} ms); {events} OpenLineage events written in all")
    ok = check_target("lineage dbt build adds at most 5% to dbt build", added <= TARGET, f"{added * 100:+.1f}% (target <= {TARGET * 100:.0f}%)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run(main))
