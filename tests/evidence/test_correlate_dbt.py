"""`lineage correlate` on a governed `lineage dbt build` on PostgreSQL: 100% of what the run sent
is attributed to it. Seeds go through psycopg2's client-side binding ('2018-01-01'::date, NULL
where dbt wrote %s), and dbt's BEGIN / COMMIT / ROLLBACK carry no comment but its session."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from testkit.dbt_project import example_project
from correlate_support import wait_for_log
from dbt_runs import Warehouse, governed

pytestmark = [pytest.mark.dbt, pytest.mark.postgres]


@pytest.fixture(scope="module")
def dbt_run(postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("correlate-dbt")
    warehouse = Warehouse("postgres", root, postgres, database="governed_shop_correlate")
    project = example_project(root / "project")
    # a seed without column types: agate reads dates, numbers, booleans and empty cells, and
    # psycopg2 binds them client-side ('2018-01-01'::date, -5, true, NULL) where dbt wrote %s
    (project / "seeds" / "raw_events.csv").write_text("id,happened_on,note,flag,delta\n1,2018-01-01,,true,-5\n2,2018-01-02,late,false,3\n")
    time.sleep(0.01)
    since = datetime.now(timezone.utc) - timedelta(milliseconds=5)
    run = governed(warehouse, project, root / "state", ["build"])
    assert run.outcome.exit_code == 0, run.outcome.message
    marker = postgres.dsn_for("governed_shop_correlate") + "?application_name=after-the-run"
    with __import__("psycopg").connect(marker, autocommit=True) as connection:
        connection.execute("select count(*) from raw.raw_customers where first_name = 'correlate-dbt-done'")
    wait_for_log(postgres, "correlate-dbt-done")
    return run, since


def test_a_governed_dbt_run_on_postgres_is_fully_attributed(postgres, dbt_run, cli):
    run, since = dbt_run
    result = cli("correlate", str(postgres.log_dir), "--ledger", str(run.state / "ledger.db"), "--database", "governed_shop_correlate",
                 "--since", since.isoformat(), "--format", "json")
    report = result.json()
    assert report["divergences"] == [], [(d["sql"][:300], d["reason"]) for d in report["divergences"]]
    # only the test's own marker query comes from outside the run
    assert [item["sql"] for item in report["unattributed"]] == ["SELECT COUNT(*) FROM raw.raw_customers WHERE first_name = ?"]
    (summary,) = report["runs"]
    assert summary["run_id"] == run.run_id
    assert summary["control"] > 20 and summary["statements"] > 30  # BEGIN/COMMIT by session; dbt's queries by comment
    assert report["transaction_control_outside_runs"] == 0
    assert report["attributed"] == summary["attributed"] == report["logged_statements"] - report["ledger_traffic"] - 1
    assert summary["not_in_log"] == []  # and every statement the ledger records as executed is in the log
