"""``lineage demo``: the example pipelines end to end on DuckDB (see lineage/cli/demo_job.py)."""

from __future__ import annotations

import argparse

from lineage.cli import summary


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help=summary("demo"))
    demo.add_argument("--out", default="demo-output", help="where everything goes (recreated; default: demo-output)")
    demo.add_argument("--skip-dbt", action="store_true", help="only the Airflow part")
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lineage.cli.demo_job import run_demo

    return run_demo(Path(args.out), skip_dbt=args.skip_dbt)
