"""The example DAGs in dags_examples/ on DuckDB, as the demo runs them: the pipeline (masked mart,
a hook in a @task, an approval-gated DROP COLUMN approved by the demo approver) and the DROP TABLE
that the example policy blocks in prod."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from airflow_support import RAW_VALUES, columns, logged, query

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "dags_examples" / "policy.yaml"


@pytest.fixture
def example_policy(airflow_home, tmp_path) -> Path:
    """The example policy trusting the demo approver's key (the demo makes its own the same way)."""
    return airflow_home.keys.policy(POLICY, tmp_path / "policy.yaml", approvers=["demo-approver"])


@pytest.fixture
def example_warehouse(airflow_home, example_policy, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE", str(example_policy))
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f'{{"conn_type": "duckdb", "host": "{path}"}}')
    return path


@pytest.mark.timeout(180)
def test_example_pipeline_masks_the_mart_and_waits_for_the_demo_approver(airflow_home, example_warehouse, example_policy):
    from lineage.approve.approvals import ApprovalStore
    from lineage.cli import main

    url = airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL"]
    store = ApprovalStore(url)
    decided: list = []

    def demo_approver():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            mine = [r for r in store.list("pending") if r.job_name == "governed_pipeline.drop_legacy_code"]
            if mine:
                decided.append(main(["approvals", "approve", mine[0].id, "--policy", str(example_policy), "--approvals", url,
                                     "--ledger", airflow_home.env["AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL"],
                                     "--key", str(airflow_home.keys.path("demo-approver"))]))
                return
            time.sleep(0.1)

    thread = threading.Thread(target=demo_approver, daemon=True)
    thread.start()
    run = airflow_home.test("governed_pipeline")
    thread.join(5)
    assert decided == [0]
    assert airflow_home.task_states(run) == {"seed": "success", "customer_orders": "success", "city_report": "success", "drop_legacy_code": "success"}
    mart = query(example_warehouse, "select customer_id, email, city, order_count, revenue from mart.customer_orders order by customer_id")
    assert [row[1] for row in mart] == ["*****@example.com", "*****@example.org", "*****@example.net"]
    assert [(row[2], row[3], float(row[4])) for row in mart] == [("London", 2, 65.5), ("Manchester", 1, 12.0), ("London", 1, 99.9)]
    assert not [value for value in RAW_VALUES if value in repr(mart)]
    report = airflow_home.xcom(run, "city_report")
    assert report == {"revenue_by_city": [["London", 165.4], ["Manchester", 12.0]], "emails": ["*****@example.com", "*****@example.org", "*****@example.net"]}
    assert "legacy_code" not in columns(example_warehouse, "raw.customers")


def test_example_drop_table_is_blocked_in_prod(airflow_home, example_warehouse, capfd):
    import duckdb

    with duckdb.connect(str(example_warehouse)) as connection:
        connection.execute("create schema raw; create table raw.orders (id integer); insert into raw.orders values (1)")
    run = airflow_home.test("blocked_drop")
    ti = run.get_task_instances()[0]
    assert str(ti.state) == "failed" and ti.try_number == 1  # retries=2 in default_args, not used
    assert query(example_warehouse, "select count(*) from raw.orders") == [(1,)]
    assert "blocked by lineage-governance (drop_table: drops table" in logged(capfd)
