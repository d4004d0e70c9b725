"""Benchmark of dynamic masking (issue: masking).

The TPC-DS queries that read the customer or customer_address tables, with a few of their
columns classified as PII (names hashed, email masked, birth data nullified, street redacted,
zip partly shown). Per statement, side by side in one run: openlineage-sql's parse (the
baseline), the masking rewrite alone on already analysed facts (cold: new engine, empty
caches), the whole check with masking and with nothing classified (cold), and the whole check
on a cache hit.

    .venv/bin/python bench/bench_masking.py
"""

from __future__ import annotations

import argparse
import os

import openlineage_sql

from common import check_target, each, print_table, run, summary, tpcds
from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.mask.rewrite import mask_statement
from lineage.model import Action
from lineage.policy import load_policy_text

ANALYST = RunIdentity(principal="analyst@bench", environment="prod")

POLICY = """
classifications:
  - table: customer
    columns: {c_first_name: pii.name, c_last_name: pii.name, c_email_address: pii.email, c_birth_day: pii.dob,
              c_birth_month: pii.dob, c_birth_year: pii.dob, c_login: pii.login}
  - table: customer_address
    columns: {ca_street_number: pii.address, ca_street_name: pii.address, ca_zip: pii.zip}
masking:
  hash_key: {env: LINEAGE_BENCH_MASKING_KEY}
  rules:
    - {tags: [pii.name], strategy: hash, args: {length: 16}}
    - {tags: [pii.email], strategy: email}
    - {tags: [pii.dob], strategy: nullify}
    - {tags: [pii.address], strategy: redact}
    - {tags: [pii.zip], strategy: show_first, args: {chars: 3}}
    - {tags: [pii.login], strategy: pseudonym}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="cold rounds (default 3)")
    args = parser.parse_args()
    os.environ.setdefault("LINEAGE_BENCH_MASKING_KEY", "bench-masking-key-0123456789abcdef")
    queries, schema = tpcds()
    catalog = Catalog.from_mapping(schema, dialect="duckdb")
    policy = load_policy_text(POLICY, "<bench policy>")
    unclassified = load_policy_text("version: 1\n", "<no classifications>")  # the same check with nothing to mask

    probe = Engine(policy, catalog, dialect="duckdb")
    touching = [sql for sql in queries if any(r.rsplit(".", 1)[-1] in ("customer", "customer_address") for f in probe.analyze(sql) for r in f.reads)]
    decisions = [d for sql in touching for d in probe.check(sql, ANALYST)]
    masked = sum(d.action == Action.MASK for d in decisions)
    refused = [d for d in decisions if d.action == Action.BLOCK]

    ol = each(touching, lambda sql: openlineage_sql.parse([sql], dialect="duckdb"))
    rewrite: list[float] = []
    cold: list[float] = []
    cold_plain: list[float] = []
    for _ in range(args.rounds):
        engine = Engine(policy, catalog, dialect="duckdb", cache_size=100_000)
        analysed = [engine.analyze(sql)[0] for sql in touching]
        context = engine.context(ANALYST)
        rewrite += each(analysed, lambda facts: mask_statement(facts, context))
        engine = Engine(policy, catalog, dialect="duckdb", cache_size=100_000)
        cold += each(touching, lambda sql: engine.check(sql, ANALYST))
        plain = Engine(unclassified, catalog, dialect="duckdb", cache_size=100_000)
        cold_plain += each(touching, lambda sql: plain.check(sql, ANALYST))
    hit = each(touching, lambda sql: engine.check(sql, ANALYST))
    others = [sql for sql in queries if sql not in touching]
    other_masking: list[float] = []
    other_plain: list[float] = []
    for _ in range(args.rounds):
        engine_others = Engine(policy, catalog, dialect="duckdb", cache_size=100_000)
        other_masking += each(others, lambda sql: engine_others.check(sql, ANALYST))
        plain_others = Engine(unclassified, catalog, dialect="duckdb", cache_size=100_000)
        other_plain += each(others, lambda sql: plain_others.check(sql, ANALYST))
    rows = [
        ("openlineage-sql parse (baseline)", summary(ol)),
        ("masking rewrite alone, cold", summary(rewrite)),
        ("lineage check, nothing classified, cold", summary(cold_plain)),
        ("lineage check with masking, cold", summary(cold)),
        ("lineage check with masking, cache hit", summary(hit)),
    ]
    print_table(f"TPC-DS queries reading customer/customer_address: {len(touching)} statements, dialect duckdb", rows,
                baseline="openlineage-sql parse (baseline)")
    print_table(f"the other {len(others)} TPC-DS queries (no classified table read), dialect duckdb", [
        ("lineage check, nothing classified, cold", summary(other_plain)),
        ("lineage check, masking policy, cold", summary(other_masking)),
    ], baseline="lineage check, nothing classified, cold")
    print(f"\n  {masked} of {len(decisions)} statements masked, {len(refused)} refused"
          + (": " + "; ".join(f.message for d in refused for f in d.findings if f.rule == "masking_refused")[:300] if refused else ""))

    print("\ntargets")
    ok = True
    median = dict(rows)["masking rewrite alone, cold"]["median_ms"]
    ok &= check_target("masking rewrite median cold <= 5 ms", median <= 5, f"{median:.2f} ms")
    full = dict(rows)["lineage check with masking, cold"]["median_ms"]
    ok &= check_target("whole check with masking, median cold <= 10 ms", full <= 10, f"{full:.2f} ms")
    parse = dict(rows)["openlineage-sql parse (baseline)"]["median_ms"]
    ok &= check_target("masking rewrite median cold at most 8x openlineage-sql's parse", median / parse <= 8, f"{median / parse:.1f}x")
    ok &= check_target("whole check with masking, median cold at most 20x openlineage-sql's parse", full / parse <= 20, f"{full / parse:.1f}x")
    cached = dict(rows)["lineage check with masking, cache hit"]["median_ms"] * 1000
    ok &= check_target("cache hit in microseconds (< 50 us)", cached < 50, f"{cached:.1f} us")
    ok &= check_target("every statement masked, none refused", masked == len(decisions), f"{masked}/{len(decisions)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run(main))
