"""OpenLineage from a governed Airflow task, with the real OpenLineage provider and without it.

With the provider: its task events carry our identity and decision facets (custom_run_facets),
each governed statement is a child run of the provider's task run id, the provider's own
per-query runs for hook SQL give way to ours, the plugin's events go through the spool, and every
event validates (the events issue's validator: spec, our facet schemas, Marquez's rules).
Without the provider (``airflow dags test`` in a subprocess with it disabled): the plugin emits the
task runs itself, with the same run ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from airflow_support import RAW_VALUES, seed, task_run_id

pytestmark = pytest.mark.airflow


def of_run(events: list[dict], dag_id: str, run_ids: set[str]) -> list[dict]:
    """Events of one DAG run: task runs by run id, statement runs by their parent."""
    out = []
    for event in events:
        parent = ((event.get("run") or {}).get("facets") or {}).get("parent") or {}
        if event["run"]["runId"] in run_ids or (parent.get("run") or {}).get("runId") in run_ids:
            out.append(event)
    return out


@pytest.fixture
def masked_run(airflow_home):
    seed(airflow_home.warehouse)
    run = airflow_home.test("lg_mask")
    tasks = ("build_contacts", "read_with_hook", "read_raw_connection")
    return run, {task: task_run_id(run, task) for task in tasks}


def test_statement_runs_are_children_of_the_providers_task_runs(airflow_home, masked_run):
    run, run_ids = masked_run
    ours = of_run(airflow_home.plugin_events(), "lg_mask", set(run_ids.values()))
    statements = [event for event in ours if ".query." in event["job"]["name"]]
    by_task = {task: [e for e in statements if e["run"]["facets"]["parent"]["run"]["runId"] == run_id] for task, run_id in run_ids.items()}
    assert {task: len(events) for task, events in by_task.items()} == {"build_contacts": 2, "read_with_hook": 4, "read_raw_connection": 4}
    build = by_task["build_contacts"]
    assert [e["eventType"] for e in build] == ["START", "COMPLETE"]
    assert build[0]["job"]["name"] == "lg_mask.build_contacts.query.1"
    parent = build[1]["run"]["facets"]["parent"]
    assert (parent["job"]["namespace"], parent["job"]["name"]) == ("airflow-test", "lg_mask.build_contacts")
    decision = build[1]["run"]["facets"]["lineageGovernance_decision"]
    assert decision["action"] == "mask" and "warehouse.raw.customers.email" in decision["maskedColumns"]
    assert build[1]["run"]["facets"]["lineageGovernance_identity"]["principal"] == "dag_test"
    assert [o["name"] for o in build[1]["outputs"]] == ["warehouse.mart.customer_contacts"]
    lineage = build[1]["outputs"][0]["facets"]["columnLineage"]["fields"]["email"]["inputFields"]
    assert [(f["name"], f["field"]) for f in lineage] == [("warehouse.raw.customers", "email")]
    masking = build[1]["inputs"][0]["inputFacets"]["lineageGovernance_masking"]
    assert {column["name"]: column["strategy"] for column in masking["columns"]}["email"] == "email"
    assert not [value for value in RAW_VALUES if value in json.dumps(ours)]

    # the provider's task runs: the same run ids, our facets on START and COMPLETE
    provider = of_run(airflow_home.openlineage_events(), "lg_mask", set(run_ids.values()))
    task_events = {(e["job"]["name"], e["eventType"]): e for e in provider if e["run"]["runId"] in run_ids.values()}
    start = task_events[("lg_mask.build_contacts", "START")]
    complete = task_events[("lg_mask.build_contacts", "COMPLETE")]
    assert start["run"]["runId"] == complete["run"]["runId"] == run_ids["build_contacts"]
    identity = start["run"]["facets"]["lineageGovernance_identity"]
    assert identity["principal"] == "dag_test" and identity["attributes"]["task_id"] == "build_contacts"
    assert identity["attributes"]["dag_run_id"] == run.run_id and identity["environment"] == "prod"
    summary = complete["run"]["facets"]["lineageGovernance_decision"]
    assert summary["action"] == "mask" and summary["outcome"] == "completed" and "warehouse.raw.customers.ssn" in summary["maskedColumns"]
    # hook SQL in a @task: the provider's own per-query runs gave way to ours
    assert not [e for e in provider if ".query." in e["job"]["name"]]


def test_every_event_validates(airflow_home, masked_run):
    """Ours in full (spec, facet schemas, every Marquez rule); the provider's as the spec and
    Marquez check them, with our facets in them held to their schemas."""
    from lineage.deliver.validate import validate_events

    run, run_ids = masked_run
    ours = of_run(airflow_home.plugin_events(), "lg_mask", set(run_ids.values()))
    assert ours and validate_events(ours) == []
    provider = of_run(airflow_home.openlineage_events(), "lg_mask", set(run_ids.values()))
    assert provider and all("lineageGovernance_identity" in e["run"]["facets"] for e in provider)
    assert validate_events(provider) == []


def test_plugin_events_go_through_the_spool(airflow_home, masked_run):
    from airflow_plugin.runtime import runtime

    run, run_ids = masked_run
    spool = runtime().emitter.spool
    assert spool is not None
    result = spool.flush(timeout=30)
    assert spool.pending() == 0, result
    written = of_run(airflow_home.plugin_events(), "lg_mask", set(run_ids.values()))
    delivered = of_run(airflow_home.spooled_events(), "lg_mask", set(run_ids.values()))
    assert [(e["run"]["runId"], e["eventType"]) for e in delivered] == [(e["run"]["runId"], e["eventType"]) for e in written]


def test_blocked_statement_is_a_failed_run_and_the_task_event_says_why(airflow_home):
    seed(airflow_home.warehouse)
    run = airflow_home.test("lg_block")
    run_id = task_run_id(run, "drop_orders")
    ours = of_run(airflow_home.plugin_events(), "lg_block", {run_id})
    assert [e["eventType"] for e in ours] == ["START", "FAIL"]
    fail = ours[1]["run"]["facets"]
    assert fail["lineageGovernance_decision"]["action"] == "block" and fail["lineageGovernance_decision"]["outcome"] == "blocked"
    assert "drop_table" in fail["errorMessage"]["message"]
    provider_fail = [e for e in airflow_home.openlineage_events() if e["run"]["runId"] == run_id and e["eventType"] == "FAIL"]
    assert provider_fail and provider_fail[0]["run"]["facets"]["lineageGovernance_decision"]["action"] == "block"


@pytest.mark.timeout(300)
def test_without_the_provider_the_plugin_emits_the_task_runs(airflow_home, tmp_path):
    """``airflow dags test`` (the CLI the demo uses) in a subprocess, the provider disabled."""
    from lineage.deliver.validate import validate_events

    from airflow_plugin.identity import ol_dag_run_id

    seed(airflow_home.warehouse)
    events_file = tmp_path / "events.jsonl"
    env = {**os.environ, **airflow_home.env, "AIRFLOW__OPENLINEAGE__DISABLED": "True",
           "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_FILE": str(events_file),
           "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_SPOOL": str(tmp_path / "spool.db")}
    env.pop("AIRFLOW__OPENLINEAGE__TRANSPORT", None)
    result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "lg_mask"], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    tasks = [e for e in events if ".query." not in e["job"]["name"]]
    assert sorted((e["job"]["name"], e["eventType"]) for e in tasks) == sorted(
        (f"lg_mask.{task}", kind) for task in ("build_contacts", "read_with_hook", "read_raw_connection") for kind in ("START", "COMPLETE"))
    task_runs = {e["job"]["name"]: e["run"]["runId"] for e in tasks}
    for event in events:
        if ".query." in event["job"]["name"]:
            task = event["job"]["name"].split(".query.")[0]
            assert event["run"]["facets"]["parent"]["run"]["runId"] == task_runs[task]
    complete = next(e for e in tasks if e["job"]["name"] == "lg_mask.build_contacts" and e["eventType"] == "COMPLETE")
    assert complete["run"]["facets"]["lineageGovernance_decision"]["action"] == "mask"
    identity = complete["run"]["facets"]["lineageGovernance_identity"]
    parent = complete["run"]["facets"]["parent"]
    from datetime import datetime

    logical_date = datetime.fromisoformat(identity["attributes"]["logical_date"])
    assert parent["run"]["runId"] == ol_dag_run_id("lg_mask", logical_date, 0) and parent["job"]["name"] == "lg_mask"
    assert validate_events(events) == []
