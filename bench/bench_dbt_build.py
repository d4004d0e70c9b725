"""Benchmark: ``lineage dbt build`` against plain ``dbt build`` on the example project (DuckDB).

Both run as the commands people type, in subprocesses, on one private copy of
dags_examples/dbt_project, alternating, after a warm-up of each (partial parsing on and Python
bytecode cached, as in everyday use). ``lineage dbt`` does its whole job: pre-flight over every node, the plan for the
macros, a ledger record per statement (before and after), OpenLineage events per node into a
JSONL file. Each pair runs twice: as it comes (both cores), and pinned to one core
(``taskset -c 0``, the whole process tree: the governance sidecar then shares dbt's core).
Reported: wall time and CPU time (user + sys of the command's whole process tree), medians.
Targets: at most 5% added wall time on both cores and on one core, at most 10% added CPU time.

    .venv/bin/python bench/bench_dbt_build.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
CPU_TARGET = 0.10


def timed_run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree: every child is waited for)."""
    before = os.times()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = os.times()
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, (after.children_user - before.children_user) + (after.children_system - before.children_system)


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
        pinned = ["taskset", "-c", "0"] if shutil.which("taskset") else None
        variants = [("both cores", [])] + ([("one core", pinned)] if pinned else [])
        for command in (plain, governed):  # warm-up: partial parse files, seeds loaded, OS caches
            timed_run(command, project, env)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for variant, prefix in variants:
                for name, command in (("dbt build", plain), ("lineage dbt build", governed)):
                    samples.setdefault((variant, name), []).append(timed_run(prefix + command, project, env))
        events = sum(1 for _ in open(scratch / "events.jsonl"))
    print(f"\nexample project (2 seeds, 5 models, 6 tests; DuckDB), {args.rounds} alternating runs each")
    print(f"  {'variant':<11} {'command':<19} {'wall median s':>13} {'min s':>7} {'max s':>7} {'CPU median s':>13}")
    for (variant, name), runs in samples.items():
        walls, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
        print(f"  {variant:<11} {name:<19} {statistics.median(walls):>13.3f} {min(walls):>7.3f} {max(walls):>7.3f} {statistics.median(cpus):>13.3f}")
    print(f"  {events} OpenLineage events written in all")
    ok = True
    for variant, _ in variants:
        base = samples[(variant, "dbt build")]
        ours = samples[(variant, "lineage dbt build")]
        wall = statistics.median(w for w, _ in ours) / statistics.median(w for w, _ in base) - 1.0
        ok &= check_target(f"lineage dbt build adds at most 5% wall time ({variant})", wall <= TARGET,
                           f"{wall * 100:+.1f}% ({(statistics.median(w for w, _ in ours) - statistics.median(w for w, _ in base)) * 1000:+.0f} ms)")
        cpu = statistics.median(c for _, c in ours) / statistics.median(c for _, c in base) - 1.0
        ok &= check_target(f"lineage dbt build adds at most 10% CPU time ({variant})", cpu <= CPU_TARGET, f"{cpu * 100:+.1f}%")
    if not pinned:
        print("  (taskset not found: the one-core variant was not run)")
    return 0 if ok else 1

if __name__ == "__main__":
    raise SystemExit(run(main))
