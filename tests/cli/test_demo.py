"""The main job (``lineage demo``) inside the test suite, on DuckDB, with its outputs checked."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.dbt, pytest.mark.slow]

RAW_EMAIL_FRAGMENTS = ("ada@", "alan@", "grace@")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from lineage.cli.demo_job import run_demo

    out = tmp_path_factory.mktemp("demo") / "demo-output"
    code = run_demo(out, quiet=True)
    return code, out


def test_demo_finishes_as_expected(demo):
    code, out = demo
    assert code == 0, (out / "logs").glob("*.log")
    assert (out / "report.html").exists()


def test_ledger_verifies_and_holds_both_pipelines(demo):
    from lineage.record import open_ledger

    _, out = demo
    ledger = open_ledger(out / "ledger.db", create=False)
    assert ledger.verify().ok
    sources = {entry.body["identity"]["source"] for entry in ledger.entries() if entry.body.get("kind") == "statement"}
    assert {"airflow", "dbt"} <= sources
    approvals = [entry.body for entry in ledger.entries() if entry.body.get("kind") == "approval_approved"]
    assert approvals and approvals[0]["identity"]["principal"] == "demo-approver"


def test_masked_marts_hold_no_raw_pii_and_gx_agrees(demo):
    from lineage.record import open_ledger

    _, out = demo
    with duckdb.connect(str(out / "airflow_warehouse.duckdb"), read_only=True) as connection:
        emails = [row[0] for row in connection.execute("select email from mart.customer_orders").fetchall()]
        raw = [row[0] for row in connection.execute("select email from raw.customers").fetchall()]
    assert emails and all(email.startswith("*****@") for email in emails)
    assert not set(emails) & set(raw)
    checks = [entry.body["payload"] for entry in open_ledger(out / "ledger.db", create=False).entries() if entry.body.get("kind") == "masking_verification"]
    assert len(checks) == 2 and all(check["success"] and check["checks"] for check in checks)


def test_the_blocked_drop_did_not_run(demo):
    _, out = demo
    with duckdb.connect(str(out / "airflow_warehouse.duckdb"), read_only=True) as connection:
        assert connection.execute("select count(*) from raw.orders").fetchone()[0] > 0


def test_events_validate(demo):
    from lineage.deliver.validate import validate_lines

    _, out = demo
    lines = (out / "events.jsonl").read_text().splitlines()
    assert len(lines) > 20
    assert validate_lines(lines) == []


def test_report_opens_in_chromium(demo):
    from testkit.browser import load_page

    _, out = demo
    page = load_page((out / "report.html").as_uri(), {"graphs": "document.querySelectorAll('svg.lineage-graph').length", "runs": "document.querySelectorAll('section.run').length"})
    assert page.errors == []
    assert page.values["graphs"] > 1 and page.values["runs"] >= 5


def _tail(name: str) -> str:
    """schema.table.column: the record names the database, the SQL may not."""
    return ".".join(name.lower().split(".")[-3:])


def test_ledger_and_events_name_exactly_the_masks_in_the_sql_that_ran(demo):
    """Every statement of the demo (Airflow and dbt): the ledger's masked columns and the events'
    are exactly the masks in the SQL that ran, found by their shape (tests/support/masks_in_sql.py)."""
    import json
    from collections import defaultdict

    from sqlglot.errors import ParseError

    from lineage.record import open_ledger
    from masks_in_sql import masks_in

    def truth(sql: str, dialect: str) -> set[str]:
        try:
            return {_tail(f"{table}.{column}") for table, column in masks_in(sql, dialect)}
        except ParseError:
            return set()

    _, out = demo
    per_node: dict[str, set[str]] = defaultdict(set)
    masked_statements = 0
    for entry in open_ledger(out / "ledger.db", create=False).entries():
        body = entry.body
        if body.get("kind") != "statement" or body["phase"] == "refused":
            continue
        statement = body["statement"]
        expected = truth(statement.get("executed_sql") or statement["sql"], statement["dialect"])
        assert {_tail(name) for name in body["masked_columns"]} == expected, statement["sql"][:300]
        masked_statements += bool(expected)
        node = (body["identity"].get("attributes") or {}).get("node_id")
        if node:
            per_node[node] |= expected
    assert masked_statements >= 4 and any(per_node.values())  # Airflow's masked reads and dbt's governed reads and mask() calls

    for event in map(json.loads, (out / "events.jsonl").read_text().splitlines()):
        facets = event["run"]["facets"]
        decision = facets.get("lineageGovernance_decision")
        node = ((facets.get("lineageGovernance_identity") or {}).get("attributes") or {}).get("node_id")
        sql = event["job"]["facets"].get("sql", {}).get("query")
        if decision is None or (node is None and sql is None):
            continue
        expected = per_node.get(node, set()) if node else truth(sql, "duckdb")
        assert {_tail(name) for name in decision["maskedColumns"]} == expected, (event["job"]["name"], event["eventType"])
        masking = {_tail(f"{dataset['name']}.{column['name']}") for dataset in event["inputs"]
                   for column in dataset.get("inputFacets", {}).get("lineageGovernance_masking", {}).get("columns", [])}
        assert masking == expected, (event["job"]["name"], event["eventType"])
