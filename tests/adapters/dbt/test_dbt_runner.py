"""``lineage dbt`` on the example project, with real dbt on real DuckDB and PostgreSQL.

Per database, one governed ``build`` (shared by the tests of that database), then the runs that
must be refused: raw emails copied into a mart (pre-flight blocks, naming the path; nothing
runs), a column dropped that downstream models use (approval needed, then the approved change
runs). Read back: the marts hold masked values only; every statement dbt sent is in the ledger;
PostgreSQL's csvlog shows the identity comment on every query; the OpenLineage events validate
and nest node -> invocation -> Airflow task.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest

from dbt_helpers import environment
from lineage.decide.analysis import split_statements
from lineage.approve.verify import signer_for
from lineage.approve.approvals import Approvals, ApprovalStore
from lineage.evidence.csvlog import read_statements
from lineage.identity.comment import parse_comment
from lineage.adapters.dbt.runner import Options, run_dbt
from lineage.deliver.validate import validate_lines
from lineage.fingerprint import normalize
from lineage.policy import load_policy
from testkit.dbt_project import example_project
from dbt_runs import KEYS, POLICY, Warehouse, governed, raw_values  # noqa: F401

pytestmark = [pytest.mark.dbt]

AIRFLOW_TASK = ("airflow", "governed_shop_dbt.dbt_build", "01a22000-0000-7000-8000-00000000a11f")
AIRFLOW_DAG = ("airflow", "governed_shop_dbt", "01a22000-0000-7000-8000-00000000da60")
APPROVER = signer_for(load_policy(POLICY).policy.approvals, KEYS.key("alice@corp"))
LEAK = "select c.customer_id, c.email from {{ ref('stg_customers', alias='c') }}\n"
UNGOVERNED = "select id, email from {{ builtins.source('shop', 'customers') }}\n"


def parent_env() -> dict[str, str]:
    return {
        "OPENLINEAGE_PARENT_ID": "/".join(AIRFLOW_TASK),
        "OPENLINEAGE_ROOT_PARENT_ID": "/".join(AIRFLOW_DAG),
        "AIRFLOW_CTX_DAG_ID": "governed_shop_dbt",
        "AIRFLOW_CTX_TASK_ID": "dbt_build",
        "AIRFLOW_CTX_TRY_NUMBER": "1",
    }


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request, tmp_path_factory):
    """The example project built once per database by `lineage dbt build`, as a service that
    may only read PII masked, under an Airflow task's OpenLineage run; events go through the
    spool to a Marquez-contract server as well as to a JSONL file."""
    from lineage.deliver.marquez.server import MarquezServer

    root = tmp_path_factory.mktemp(f"shop-{request.param}")
    postgres = request.getfixturevalue("postgres") if request.param == "postgres" else None
    warehouse = Warehouse(request.param, root, postgres)
    project = example_project(root / "project")
    with MarquezServer() as marquez:
        run = governed(warehouse, project, root / "state", ["build", "--log-format-file", "json"],
                       OPENLINEAGE_URL=marquez.url, LINEAGE_EVENTS_SPOOL=str(root / "state" / "spool.db"), **parent_env())
        run.marquez = marquez
    assert run.outcome.exit_code == 0, run.outcome.message
    return run


def test_marts_hold_only_masked_values(built):
    warehouse = built.warehouse
    customers = warehouse.rows("select email, ssn, birth_year from marts.dim_customers order by customer_id")
    assert len(customers) == 40
    assert all(re.fullmatch(r"\*{5}@example\.(com|org|net)", email) for email, _, _ in customers)
    assert all(re.fullmatch(r"\*{7}\d{4}", ssn) for _, ssn, _ in customers)
    raw = raw_values()
    for table in ("marts.dim_customers", "marts.city_revenue", "marts.fct_orders", "staging.stg_customers"):
        values = {str(value) for row in warehouse.rows(f"select * from {table}") for value in row}
        assert not values & raw, f"raw PII in {table}: {sorted(values & raw)[:3]}"
    # staging is masked too for this identity: governed source() masked at scan time
    names = warehouse.rows("select first_name, birth_date from staging.stg_customers order by customer_id limit 2")
    assert all(re.fullmatch(r"X[x]*", first) for first, _ in names)
    assert all(str(birth).endswith("-01-01") for _, birth in names)


def test_preflight_report_has_lineage_through_select_star_and_the_masks(built):
    report = built.outcome.report
    assert report["action"] == "allow"
    fct = report["nodes"]["model.governed_shop.fct_orders"]
    assert fct["output_columns"] == ["order_id", "customer_id", "ordered_at", "amount", "status"]
    masks = {relation.split(".", 1)[1]: value for relation, value in report["masks"].items() if value}
    assert {column: mask["strategy"] for column, mask in masks["raw.raw_customers"].items()} == {
        "first_name": "redact", "last_name": "redact", "email": "email", "ssn": "show_last", "birth_date": "date_trunc"}


def test_every_statement_dbt_sent_is_in_the_ledger(built):
    dialect = built.warehouse.kind
    sent = []
    for line in (built.project / "logs" / "dbt.log").read_text().splitlines():
        event = json.loads(line)
        if event["info"]["name"] == "SQLQuery" and event["info"]["invocation_id"] == built.outcome.invocation_id:
            sent.append(event["data"]["sql"])
    assert len(sent) > 30
    expected = Counter(normalize(statement.sql, dialect)[1] for sql in sent for statement in split_statements(sql, dialect))
    records = [body for body in built.ledger() if body["kind"] == "statement" and body["identity"]["run_id"] == built.run_id]
    started = Counter(body["statement"]["fingerprint"] for body in records if body["phase"] == "started")
    finished = Counter(body["statement"]["fingerprint"] for body in records if body["phase"] == "finished")
    assert started == expected
    assert finished == expected
    assert {body["identity"]["principal"] for body in records} == {"svc:dbt"}
    nodes = {body["identity"].get("attributes", {}).get("node_id") for body in records}
    assert "model.governed_shop.dim_customers" in nodes and "seed.governed_shop.raw_customers" in nodes
    preflight = [body for body in built.ledger() if body["kind"] == "dbt_preflight" and body["identity"]["run_id"] == built.run_id]
    assert len(preflight) == 1 and preflight[0]["payload"]["action"] == "allow"


def test_events_validate_and_nest_node_under_invocation_under_airflow_task(built):
    lines = (built.state / "events.jsonl").read_text().splitlines()
    assert validate_lines(lines) == []
    events = built.events()
    invocation = [e for e in events if e["run"]["runId"] == built.run_id]
    assert [e["eventType"] for e in invocation] == ["START", "COMPLETE"]
    parent = invocation[0]["run"]["facets"]["parent"]
    assert (parent["job"]["namespace"], parent["job"]["name"], parent["run"]["runId"]) == AIRFLOW_TASK
    assert parent["root"]["run"]["runId"] == AIRFLOW_DAG[2]
    assert invocation[0]["run"]["facets"]["dbt_run"]["invocation_id"] == built.outcome.invocation_id
    job = invocation[0]["job"]["name"]
    assert job == "governed_shop_dbt.dbt_build.dbt.governed_shop.build"
    nodes = [e for e in events if e["run"]["runId"] in set(built.outcome.node_runs.values())]
    assert {e["job"]["name"] for e in nodes} >= {f"{job}.model.dim_customers", f"{job}.seed.raw_customers", f"{job}.model.fct_orders"}
    for event in nodes:
        facets = event["run"]["facets"]
        assert facets["parent"]["run"]["runId"] == built.run_id and facets["parent"]["job"]["name"] == job
        assert facets["parent"]["root"]["run"]["runId"] == AIRFLOW_DAG[2]
        assert facets["dbt_run"]["invocation_id"] == built.outcome.invocation_id
    by_state = Counter((e["job"]["name"].rsplit(".", 1)[-1], e["eventType"]) for e in nodes)
    assert by_state[("dim_customers", "START")] == by_state[("dim_customers", "COMPLETE")] == 1
    dim = next(e for e in nodes if e["job"]["name"].endswith("model.dim_customers") and e["eventType"] == "COMPLETE")
    output = dim["outputs"][0]
    lineage = output["facets"]["columnLineage"]["fields"]
    email = lineage["email"]["inputFields"][0]
    assert email["name"].endswith("staging.stg_customers") and email["field"] == "email" and email["transformations"][0]["masking"] is True
    assert output["facets"]["lineageGovernance_classifications"]["columns"]["email"] == ["pii.email"]
    decision = dim["run"]["facets"]["lineageGovernance_decision"]
    assert decision["action"] == "mask"  # it ran with the masks of its mask() calls
    assert {column.split(".", 1)[1] for column in decision["maskedColumns"]} == {"staging.stg_customers.email", "staging.stg_customers.ssn", "staging.stg_customers.birth_date"}
    fct = next(e for e in nodes if e["job"]["name"].endswith("model.fct_orders") and e["eventType"] == "COMPLETE")
    # select * through dbt's DDL: every column traced to staging (openlineage-dbt has none here)
    assert set(fct["outputs"][0]["facets"]["columnLineage"]["fields"]) == {"order_id", "customer_id", "ordered_at", "amount", "status"}


def test_events_reach_marquez_through_the_spool(built):
    marquez = built.marquez
    assert marquez.rejected == [] and marquez.duplicates == 0
    assert [(e["run"]["runId"], e["eventType"]) for e in marquez.events] == [(e["run"]["runId"], e["eventType"]) for e in built.events()]


def test_postgres_csvlog_has_the_identity_comment_on_every_dbt_query(built):
    if built.warehouse.kind != "postgres":
        pytest.skip("PostgreSQL's statement log")
    logged = [s for s in read_statements(built.warehouse.postgres.csv_logs()) if s.database == built.warehouse.database]
    ours = [s for s in logged if f"run_id='{built.run_id}'" in s.sql]
    assert len(ours) > 30
    # on dbt's sessions, only BEGIN / COMMIT / ROLLBACK (which dbt sends outside its query-comment path) go without
    sessions = {s.session for s in ours}
    transaction = {"BEGIN", "COMMIT", "ROLLBACK"}
    uncommented = [s.sql for s in logged if s.session in sessions and s not in ours and s.sql.strip().rstrip(";").upper() not in transaction]
    assert uncommented == []
    assert {s.application for s in ours} == {f"lg:{built.run_id}:svc:dbt"}
    fields = parse_comment(ours[-1].sql)
    assert fields["principal"] == "svc:dbt" and fields["invocation_id"] == built.outcome.invocation_id
    assert fields["parent_run_id"] == AIRFLOW_TASK[2] and fields["dag_id"] == "governed_shop_dbt"
    assert {parse_comment(s.sql).get("node_id") for s in ours} >= {"model.governed_shop.dim_customers", "seed.governed_shop.raw_orders"}


@pytest.fixture(scope="module")
def leak(built, tmp_path_factory):
    """A mart model that copies emails, run by an identity that reads PII raw (privacy-officers)."""
    root = tmp_path_factory.mktemp("leak")
    project = example_project(root / "project")
    (project / "models" / "marts" / "mart_contacts.sql").write_text(LEAK)
    warehouse = Warehouse(built.warehouse.kind, root, built.warehouse.postgres, database="governed_shop_leak")
    return governed(warehouse, project, root / "state", ["build"], groups=("privacy-officers",))


def test_preflight_blocks_raw_emails_into_a_mart_naming_the_path_and_nothing_runs(leak):
    assert leak.outcome.exit_code == 1
    findings = [f for f in leak.outcome.report["findings"] if f["rule"] == "pii_to_unapproved_zone"]
    assert [f["node"] for f in findings] == ["model.governed_shop.mart_contacts"]
    path = findings[0]["detail"]["path"]
    assert [part.split(".", 1)[1] for part in path] == ["raw.raw_customers.email", "staging.stg_customers.email", "marts.mart_contacts.email"]
    assert " -> ".join(path) in findings[0]["message"] and findings[0]["action"] == "block"
    assert "nothing ran" in leak.outcome.message
    assert leak.warehouse.tables() == set()  # not even the seeds
    statements = [body for body in leak.ledger() if body["kind"] == "statement"]
    assert statements and all(s["statement"]["kind"] == "select" for s in statements)  # the catalog read only
    events = leak.events()
    assert [e["eventType"] for e in events if e["run"]["runId"] == leak.run_id] == ["START", "FAIL"]
    assert validate_lines((leak.state / "events.jsonl").read_text().splitlines()) == []


def test_preflight_refuses_an_ungoverned_read_for_an_identity_that_sees_pii_masked(built, tmp_path):
    project = example_project(tmp_path / "project")
    (project / "models" / "staging" / "stg_contacts.sql").write_text(UNGOVERNED)
    warehouse = Warehouse(built.warehouse.kind, tmp_path, built.warehouse.postgres, database="governed_shop_ungoverned")
    run = governed(warehouse, project, tmp_path / "state", ["build", "--select", "stg_contacts"])
    assert run.outcome.exit_code == 1
    refused = {f["object"].split(".", 1)[1] for f in run.outcome.report["findings"] if f["rule"] == "masking_refused"}
    assert refused == {"raw.raw_customers.email"}
    assert warehouse.tables() == set()


def test_a_dropped_column_downstream_models_use_needs_approval_then_the_approved_change_runs(built, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(built.project, project, symlinks=True, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = built.warehouse
    if warehouse.kind == "duckdb":
        shutil.copy(warehouse.duckdb, tmp_path / "governed_shop.duckdb")
        warehouse = Warehouse("duckdb", tmp_path)
    stg = project / "models" / "staging" / "stg_customers.sql"
    stg.write_text(stg.read_text().replace("    birth_date,\n    city\n", "    birth_date\n"))
    held = governed(warehouse, project, tmp_path / "state", ["build", "--select", "stg_customers"])
    assert held.outcome.exit_code == 3 and len(held.outcome.requests) == 1
    dropped = [f for f in held.outcome.report["findings"] if f["rule"] == "drop_column"]
    assert [f["object"].split(".", 1)[1] for f in dropped] == ["staging.stg_customers.city"]
    users = dropped[0]["detail"]["used_by"]
    assert "model.governed_shop.city_revenue (city)" in users and "model.governed_shop.dim_customers (city)" in users
    assert "exposure.governed_shop.revenue_dashboard" in users
    assert "city" in {row[0] for row in warehouse.rows("select column_name from information_schema.columns where table_name = 'stg_customers'")}

    approvals = Approvals(load_policy(POLICY), ApprovalStore(f"sqlite:///{tmp_path / 'state' / 'approvals.db'}"))
    approvals.approve(held.outcome.requests[0], APPROVER, note="city moves to the address model")
    approved = governed(warehouse, project, tmp_path / "state", ["build", "--select", "stg_customers"], approvals=held.outcome.requests)
    assert approved.outcome.exit_code == 0, approved.outcome.message
    assert approved.outcome.plan["approved"] == {"model.governed_shop.stg_customers": held.outcome.requests[0]}
    columns = {row[0] for row in warehouse.rows("select column_name from information_schema.columns where table_name = 'stg_customers'")}
    assert "city" not in columns and "email" in columns
    records = [b for b in approved.ledger() if b["kind"] == "statement" and b["identity"]["run_id"] == approved.run_id
               and (b["identity"].get("attributes") or {}).get("node_id") == "model.governed_shop.stg_customers"]
    assert records and all((b["approval"] or {}).get("id") == held.outcome.requests[0] for b in records)
    assert approved.run_id == held.run_id  # --approval continues the run that asked (approvals.scope: run)
    signed = [b["approval"] for b in records if b["phase"] == "started"]
    assert signed and signed[0]["approver"] == "alice@corp" and signed[0]["key_id"] == APPROVER.key_id


def test_an_approval_presented_by_another_job_or_principal_runs_nothing(built, tmp_path):
    """``lineage dbt --approval ID`` from another job or as another principal: ignored, still held."""
    if built.warehouse.kind != "duckdb":
        pytest.skip("the approval binding does not depend on the warehouse")
    project = tmp_path / "project"
    shutil.copytree(built.project, project, symlinks=True, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copy(built.warehouse.duckdb, tmp_path / "governed_shop.duckdb")
    warehouse = Warehouse("duckdb", tmp_path)
    stg = project / "models" / "staging" / "stg_customers.sql"
    stg.write_text(stg.read_text().replace("    birth_date,\n    city\n", "    birth_date\n"))
    held = governed(warehouse, project, tmp_path / "state", ["build", "--select", "stg_customers"])
    assert held.outcome.exit_code == 3
    request_id = held.outcome.requests[0]
    Approvals(load_policy(POLICY), ApprovalStore(f"sqlite:///{tmp_path / 'state' / 'approvals.db'}")).approve(request_id, APPROVER)
    other_job = governed(warehouse, project, tmp_path / "state", ["build", "--select", "stg_customers"], approvals=[request_id], LINEAGE_JOB_NAME="nightly.other")
    assert other_job.outcome.exit_code == 3 and other_job.outcome.requests != [request_id]
    assert other_job.run_id != held.run_id
    assert "city" in {row[0] for row in warehouse.rows("select column_name from information_schema.columns where table_name = 'stg_customers'")}
    state = tmp_path / "state"
    env = warehouse.env(project, LINEAGE_PRINCIPAL="mallory@corp")
    options = Options(policy=str(POLICY), approval_ids=(request_id,), ledger=str(state / "ledger.db"), approvals=f"sqlite:///{state / 'approvals.db'}")
    with environment(env):
        as_mallory = run_dbt(["build", "--select", "stg_customers"], options)
    assert as_mallory.exit_code == 3
    assert "city" in {row[0] for row in warehouse.rows("select column_name from information_schema.columns where table_name = 'stg_customers'")}


def test_wait_holds_the_run_until_an_approver_decides(built, tmp_path):
    import threading
    import time as clock

    if built.warehouse.kind != "duckdb":
        pytest.skip("waits on DuckDB only: the approval flow does not depend on the warehouse")
    project = tmp_path / "project"
    shutil.copytree(built.project, project, symlinks=True, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copy(built.warehouse.duckdb, tmp_path / "governed_shop.duckdb")
    warehouse = Warehouse("duckdb", tmp_path)
    fct = project / "models" / "marts" / "fct_orders.sql"
    fct.write_text("select order_id, customer_id, ordered_at, amount from {{ ref('stg_orders') }}\n")
    (project / "models" / "marts" / "_marts.yml").write_text(
        (project / "models" / "marts" / "_marts.yml").read_text().replace("      - {name: status, data_type: text}\n", ""))
    (tmp_path / "state").mkdir()
    store = ApprovalStore(f"sqlite:///{tmp_path / 'state' / 'approvals.db'}")
    approvals = Approvals(load_policy(POLICY), store)
    decided: list[str] = []

    def approver():
        deadline = clock.monotonic() + 60
        while clock.monotonic() < deadline and not decided:
            for request in store.list("pending"):
                approvals.approve(request.id, APPROVER)
                decided.append(request.id)
            clock.sleep(0.1)

    thread = threading.Thread(target=approver, daemon=True)
    thread.start()
    env = warehouse.env(project, LINEAGE_PRINCIPAL="svc:dbt")
    options = Options(policy=str(POLICY), wait=True, wait_timeout=60, poll_seconds=0.1, ledger=str(tmp_path / "state" / "ledger.db"),
                      approvals=f"sqlite:///{tmp_path / 'state' / 'approvals.db'}")
    with environment(env):
        outcome = run_dbt(["build", "--select", "fct_orders"], options)
    thread.join(5)
    assert outcome.exit_code == 0, outcome.message
    assert len(decided) == 1 and outcome.plan["approved"] == {"model.governed_shop.fct_orders": decided[0]}
    assert "status" not in {row[0] for row in warehouse.rows("select column_name from information_schema.columns where table_name = 'fct_orders'")}


def test_model_hooks_are_judged_before_anything_runs(tmp_path):
    project = example_project(tmp_path / "project")
    model = project / "models" / "marts" / "city_revenue.sql"
    model.write_text("{{ config(post_hook='drop table if exists {{ ref(\\'fct_orders\\') }}') }}\n" + model.read_text())
    run = governed(Warehouse("duckdb", tmp_path), project, tmp_path / "state", ["build"], LINEAGE_ENV="prod")
    assert run.outcome.exit_code == 1
    dropped = [f for f in run.outcome.report["findings"] if f["rule"] == "drop_table"]
    assert [f["node"] for f in dropped] == ["model.governed_shop.city_revenue.hook.0"] and dropped[0]["action"] == "block"


def test_a_statement_that_fails_is_recorded_failed_and_its_node_run_fails(tmp_path):
    project = example_project(tmp_path / "project")
    (project / "models" / "staging" / "stg_broken.sql").write_text("select id from staging.no_such_table\n")
    run = governed(Warehouse("duckdb", tmp_path), project, tmp_path / "state", ["run", "--select", "stg_broken"])
    assert run.outcome.exit_code == 1 and run.outcome.report["action"] in ("allow", "warn")
    records = [b for b in run.ledger() if b["kind"] == "statement" and (b["identity"].get("attributes") or {}).get("node_id") == "model.governed_shop.stg_broken"]
    failed = [b for b in records if b["phase"] == "failed"]
    assert len(failed) == 1 and "no_such_table" in failed[0]["statement"]["sql"] and failed[0]["error"]
    events = [e for e in run.events() if e["job"]["name"].endswith("model.stg_broken")]
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "no_such_table" in events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert validate_lines((run.state / "events.jsonl").read_text().splitlines()) == []


def test_a_bad_policy_exits_2_naming_the_file_before_dbt_runs(tmp_path):
    project = example_project(tmp_path / "project")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nguardrails:\n  - {rule: drop_tabel, action: block}\n")
    with environment(Warehouse("duckdb", tmp_path).env(project)):
        outcome = run_dbt(["build"], Options(policy=str(policy), ledger=str(tmp_path / "ledger.db")))
    assert outcome.exit_code == 2
    assert "policy.yaml:3" in outcome.message and "drop_tabel" in outcome.message
    assert not (tmp_path / "governed_shop.duckdb").exists()
