"""Benchmark: the dbt pre-flight over a real project's 708 compiled models (tuva, DuckDB SQL).

The corpus has each model's compiled SQL (bench/corpus/tuva_compiled_models.json). The models'
relations and the DAG are recovered from the SQL itself (a model reading "tuva"."core"."patient"
depends on the model that builds it); tables no model builds are sources, classified by the
policy below (patient names, birth dates, addresses, phone numbers, SSNs). The pre-flight then
does its whole job in DAG order: every model as ``CREATE OR REPLACE TABLE ... AS <sql>`` through
the engine, learning each model's columns for the next ``select *``, carrying classifications
through column lineage, zone findings with their paths. Beside it, in the same run,
openlineage-sql parses the same 708 models. Target: the pre-flight within 30 s on a 2-core machine.

    .venv/bin/python bench/bench_dbt_preflight.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import openlineage_sql
import sqlglot
from sqlglot import exp

from common import check_target, run, tuva_models

from lineage.decide.catalog import Catalog
from lineage.adapters.dbt.node import Node
from lineage.adapters.dbt.preflight import Preflight
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action
from lineage.policy import load_policy_text

TARGET_SECONDS = 30.0

POLICY = """
version: 1
classifications:
  - table: "raw_data.*"
    columns:
      first_name: pii.name
      last_name: pii.name
      "*birth_date": pii.dob
      social_security_number: pii.ssn
      address: pii.address
      phone: pii.phone
      email: pii.email
masking:
  rules:
    - {tags: ["pii.*"], strategy: nullify}
  unmasked_for:
    - {group: analytics-engineering}
zones:
  - {tags: ["pii.*"], allowed: ["raw_data.*", "input_layer.*", "core.*", "claims_preprocessing.*"]}
"""


def references(sql: str) -> set[tuple[str, str]]:
    """(schema, table) of every tuva table a model reads (to rebuild the DAG; not timed)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:
        return set()
    return {(table.db, table.name) for table in tree.find_all(exp.Table) if table.catalog == "tuva" and table.db}


def dag(models: list[tuple[str, str]]) -> tuple[list[Node], dict[str, str]]:
    """Nodes in DAG order and node id -> relation, recovered from the compiled SQL."""
    by_name = {unique_id.rsplit(".", 1)[-1]: unique_id for unique_id, _ in models}
    relations: dict[str, str] = {}
    parents: dict[str, set[str]] = {unique_id: set() for unique_id, _ in models}
    for unique_id, sql in models:
        for schema, table in references(sql):
            for candidate in (table, f"{schema}__{table}", f"{schema}_{table}"):
                builder = by_name.get(candidate)
                if builder is not None and builder != unique_id:
                    relations.setdefault(builder, f"tuva.{schema}.{table}")
                    parents[unique_id].add(builder)
                    break
    for unique_id, _ in models:
        relations.setdefault(unique_id, f"tuva.main.{unique_id.rsplit('.', 1)[-1]}")
    order: list[str] = []
    done: set[str] = set()

    def visit(node: str, path: set[str]) -> None:
        if node in done or node in path:
            return
        path.add(node)
        for parent in sorted(parents[node]):
            visit(parent, path)
        done.add(node)
        order.append(node)

    for unique_id, _ in models:
        visit(unique_id, set())
    sql_of = dict(models)
    nodes = [Node(unique_id, "model", sql=sql_of[unique_id], relation=relations[unique_id], materialized="table") for unique_id in order]
    return nodes, relations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="pre-flight rounds, each cold (default 1)")
    args = parser.parse_args()
    models = tuva_models()
    nodes, relations = dag(models)

    started = time.perf_counter()
    per_model = []
    for _, sql in models:
        began = time.perf_counter()
        try:
            openlineage_sql.parse([sql], dialect="duckdb")
        except Exception:
            pass
        per_model.append(time.perf_counter() - began)
    baseline = time.perf_counter() - started

    policy = load_policy_text(POLICY, "<bench policy>")
    identity = RunIdentity("svc:dbt-bench", groups=("analytics-engineering",))
    totals = []
    report = None
    for _ in range(args.rounds):
        began = time.perf_counter()
        engine = Engine(policy, Catalog(dialect="duckdb", default_database="tuva", default_schema="main"), "duckdb", masker=None)
        report = Preflight(engine, identity, relations).run(nodes)
        totals.append(time.perf_counter() - began)
    seconds = statistics.median(totals)
    times = sorted(result.seconds for result in report.results)
    traced = sum(1 for result in report.results if result.lineage)
    carried = sum(1 for columns in report.columns.values() for tags in columns.values() if tags)
    zone = [f for _, f in report.findings if f.rule == "pii_to_unapproved_zone"]
    longest = max((len(f.detail.get("path", ())) for f in zone), default=0)

    print(f"\ntuva: {len(models)} compiled dbt models (DuckDB), DAG rebuilt from their SQL, {args.rounds} cold round(s)")
    print(f"  openlineage-sql parse, all models       {baseline:8.2f} s   (median {statistics.median(per_model) * 1000:.2f} ms/model)")
    print(f"  lineage dbt pre-flight, all models      {seconds:8.2f} s   (median {statistics.median(times) * 1000:.2f} ms/model, "
          f"slowest {times[-1] * 1000:.0f} ms)   x{seconds / baseline:.1f} openlineage-sql")
    print(f"  models with column lineage: {traced} of {len(report.results)}; columns carrying a classification: {carried}")
    print(f"  zone findings: {len(zone)} (longest path {longest} columns); decision: {report.action.value}"
          f"{'' if report.action != Action.ALLOW else ''}")
    ok = check_target("pre-flight over 708 models within 30 s", seconds <= TARGET_SECONDS, f"{seconds:.1f} s (target <= {TARGET_SECONDS:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run(main))
