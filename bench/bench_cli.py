"""Benchmark: how long people wait for the ``lineage`` command itself (a whole process each time).

Measured against the least any SQL-checking Python CLI pays, in the same run, alternating:
``python -c "import sqlglot, sqlglot.optimizer.qualify, yaml"``. Bytecode cached, as installed.
Targets: ``lineage check --sql 'select 1'`` at most 1.3x that baseline; ``lineage --help`` at most
0.2 s.

    .venv/bin/python bench/bench_cli.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import check_target, run

BIN = Path(sys.executable).parent
RATIO_TARGET = 1.3
HELP_TARGET = 0.2


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="timed runs of each (default 15)")
    args = parser.parse_args()
    commands = {
        "baseline: import sqlglot, qualify, yaml": [sys.executable, "-c", "import sqlglot, sqlglot.optimizer.qualify, yaml"],
        "lineage --help": [str(BIN / "lineage"), "--help"],
        "lineage check --sql 'select 1'": [str(BIN / "lineage"), "check", "--sql", "select 1"],
    }
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")  # bytecode cached, as an installed package has it
        for command in commands.values():
            timed(command, env)  # warm-up: bytecode written, OS caches
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command, env))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    base = medians["baseline: import sqlglot, qualify, yaml"]
    print(f"\nwhole process, wall time, {args.rounds} alternating runs each")
    print(f"  {'command':<40} {'median s':>9} {'min s':>7} {'max s':>7} {'x baseline':>11}")
    for name, samples in times.items():
        print(f"  {name:<40} {medians[name]:>9.3f} {min(samples):>7.3f} {max(samples):>7.3f} {medians[name] / base:>10.2f}x")
    ratio = medians["lineage check --sql 'select 1'"] / base
    ok = check_target(f"lineage check at most {RATIO_TARGET}x the baseline", ratio <= RATIO_TARGET, f"{ratio:.2f}x")
    ok &= check_target(f"lineage --help at most {HELP_TARGET} s", medians["lineage --help"] <= HELP_TARGET, f"{medians['lineage --help']:.3f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run(main))
