"""Shared pieces of the benchmarks: corpus loading and side-by-side timing tables.

Every benchmark measures its baseline in the same run and prints ratios, so figures from
different machines are comparable.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
sys.path.insert(0, str(ROOT))


def split_queries(name: str) -> list[str]:
    text = (CORPUS / name).read_text()
    return [part.strip().rstrip(";").strip() for part in re.split(r"^-- TPC-(?:H|DS) \d+$", text, flags=re.M) if part.strip()]


def tpch() -> tuple[list[str], dict]:
    return split_queries("tpch_queries.sql"), json.loads((CORPUS / "tpch_schema.json").read_text())


def tpcds() -> tuple[list[str], dict]:
    return split_queries("tpcds_queries.sql"), json.loads((CORPUS / "tpcds_schema.json").read_text())


def tuva_models() -> list[tuple[str, str]]:
    return [tuple(pair) for pair in json.loads((CORPUS / "tuva_compiled_models.json").read_text())]


def jaffle_statements() -> list[str]:
    return json.loads((CORPUS / "jaffle_shop_duckdb_build_statements.json").read_text())


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(samples) * 1000 if samples else float("nan"),
        "p99_ms": percentile(samples, 0.99) * 1000,
        "max_ms": max(samples) * 1000 if samples else float("nan"),
        "n": len(samples),
    }


def print_table(title: str, rows: list[tuple[str, dict[str, float]]], baseline: str | None = None) -> None:
    print(f"\n{title}")
    base = dict(rows).get(baseline) if baseline else None
    header = f"  {'measure':<44} {'n':>5} {'median ms':>10} {'p99 ms':>9} {'max ms':>9}" + ("  x baseline" if base else "")
    print(header)
    print("  " + "-" * (len(header) - 2))
    for name, stats in rows:
        ratio = f"  {stats['median_ms'] / base['median_ms']:>9.2f}x" if base and base["median_ms"] > 0 else ""
        print(f"  {name:<44} {stats['n']:>5} {stats['median_ms']:>10.3f} {stats['p99_ms']:>9.3f} {stats['max_ms']:>9.3f}{ratio}")


def check_target(label: str, ok: bool, detail: str) -> bool:
    print(f"  [{'ok' if ok else 'MISSED'}] {label}: {detail}")
    return ok


def each(items: Iterable, function: Callable) -> list[float]:
    return [timed(lambda item=item: function(item)) for item in items]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}, {platform.python_implementation()} {platform.python_version()}, load average {load}"


def run(main: Callable[[], int | None]) -> int:
    """Run a benchmark's ``main`` between two lines naming the machine and its load, so every
    figure it prints says where it was taken."""
    print(f"machine: {machine()}", flush=True)
    try:
        return int(main() or 0)
    finally:
        print(f"machine at the end: {machine()}", flush=True)
