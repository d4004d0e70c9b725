"""Governed statements on real DuckDB and PostgreSQL produce valid, Marquez-ready OpenLineage events.

Each scenario drives real SQL through lineage.governor.Governor with GovernanceEvents writing a
JSONL file; the file is then validated (spec + facet schemas + Marquez's rules in docs/marquez.md, stream rules
included) and the events are checked for what each statement did.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import duckdb
import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.deliver.emit import EventEmitter, JsonlSink
from lineage.deliver.governance import GovernanceEvents
from lineage.deliver.naming import duckdb_database, duckdb_namespace, postgres_context
from lineage.deliver.validate import validate_lines
from lineage.governor import ApprovalRequired, ExecutionContext, Governor, StatementBlocked
from lineage.identity.run_identity import RunIdentity, new_run_id

SETUP = [
    "create schema crm",
    "create schema mart",
    "create table crm.customers (id integer primary key, name text, email text, ssn text, salary numeric(12,2), dob date, age integer, city varchar(40))",
    "create table crm.orders (id integer, customer_id integer, amount numeric(12,2), status text)",
    "create table mart.contacts (id integer primary key, email text)",
    "insert into crm.customers values (1, 'Alice', 'alice@corp.com', '123-45-6789', 5000, '1990-04-01', 34, 'Oslo'), "
    "(2, 'Bob', 'bob@corp.com', '987-65-4321', 6000, '1985-01-02', 39, 'Rome')",
    "insert into crm.orders values (1, 1, 10.5, 'new'), (2, 1, 4.5, 'paid'), (3, 2, 7, 'new')",
]
class Approvals:
    def __init__(self, granted: str | None):
        self.granted = granted
        self.requests = []

    def approval_for(self, decision, identity):
        return self.granted

    def request(self, decision, identity):
        self.requests.append(decision.original_sql)
        return "req-42"

    def approver(self, approval_id):
        return "olga@corp" if approval_id == self.granted else None

    def latest(self, decision, identity):
        """The run's request for this statement (the governor asks once per run)."""
        return SimpleNamespace(id="req-42", status="pending") if decision.original_sql in self.requests else None


class Database:
    """One real database (DuckDB file or PostgreSQL) with the example tables, and how to run SQL."""

    def __init__(self, kind, tmp_path, postgres=None):
        self.kind = kind
        if kind == "duckdb":
            path = tmp_path / "my warehouse.duckdb"  # a space: the namespace must be sanitised
            self.connection = duckdb.connect(str(path))
            for statement in SETUP:
                self.connection.execute(statement)
            self.namespace, self.database = duckdb_namespace(path), duckdb_database(path)
            self.catalog = Catalog.from_duckdb(self.connection)
        else:
            import psycopg

            database = f"events_{new_run_id().replace('-', '')[:12]}"
            with psycopg.connect(postgres.dsn, autocommit=True) as admin:
                admin.execute(f"create database {database}")
            dsn = postgres.dsn_for(database)
            self.connection = psycopg.connect(dsn, autocommit=True)
            for statement in SETUP:
                self.connection.execute(statement)
            self.namespace, self.database = postgres_context(dsn)
            self.catalog = Catalog.from_postgres(dsn)

    def run(self, sql):
        if self.kind == "duckdb":
            return self.connection.execute(sql).fetchall()
        cursor = self.connection.execute(sql)
        return cursor.fetchall() if cursor.description else cursor.rowcount

    def columns(self, table):
        schema, name = table.split(".")
        return [row[0] for row in self.run(
            f"select column_name from information_schema.columns where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position")]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    postgres = request.getfixturevalue("postgres") if request.param == "postgres" else None
    db = Database(request.param, tmp_path, postgres)
    yield db
    db.connection.close()


def dag_task_identity():
    """An Airflow-like identity: task run etl_dag.load under DAG run etl_dag."""
    dag_run = new_run_id()
    return RunIdentity(
        principal="svc:etl", groups=("etl",), environment="prod", source="airflow", actor="alice@corp",
        job_namespace="airflow-test", job_name="etl_dag.load",
        parent_run_id=dag_run, parent_job_namespace="airflow-test", parent_job_name="etl_dag",
        root_run_id=dag_run, root_job_namespace="airflow-test", root_job_name="etl_dag",
        attributes={"dag_id": "etl_dag", "task_id": "load", "try_number": 1},
    )


def events_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_run(events):
    runs = {}
    for event in events:
        runs.setdefault(event["run"]["runId"], []).append(event)
    return runs


def test_governed_statements_produce_valid_events(database, loaded_policy, tmp_path, cli):
    engine = Engine(loaded_policy, database.catalog, dialect=database.kind)
    path = tmp_path / "events.jsonl"
    events = GovernanceEvents(EventEmitter([JsonlSink(path)]), engine)
    identity = dag_task_identity()
    context = ExecutionContext(database.kind, database.namespace, database.database)
    governor = Governor(engine, events=events, approvals=Approvals(None))

    events.job_started(identity, "TASK")
    masked_rows = governor.execute("select id, email from crm.customers where city = 'Oslo'", identity, database.run, context)[0].result
    governor.execute("insert into mart.contacts (id, email) select id, email from crm.customers where id = 2", identity, database.run, context)
    governor.execute("create table mart.order_totals as select customer_id, sum(amount) as total from crm.orders group by customer_id", identity, database.run, context)
    engine.learn(engine.check("create table mart.order_totals as select customer_id, sum(amount) as total from crm.orders group by customer_id", identity, database.kind)[0])
    with pytest.raises(StatementBlocked):
        governor.execute("delete from crm.orders", identity, database.run, context)
    with pytest.raises(ApprovalRequired):
        governor.execute("alter table crm.orders drop column status", identity, database.run, context)
    governor.approvals = Approvals("appr-7")
    governor.execute("alter table crm.orders drop column status", identity, database.run, context)
    with pytest.raises(Exception):  # a real database error: the row with id 2 is already there
        governor.execute("insert into mart.contacts (id, email) select customer_id, status from crm.orders where id = 3", identity, database.run, context)
    events.job_completed(identity, "TASK")

    # the statements really ran (or did not)
    assert masked_rows == [(1, "*****@corp.com")]  # the real scan-time masking rewrite
    assert database.run("select id, email from mart.contacts") == [(2, "*****@corp.com")]
    assert database.run("select count(*) from crm.orders")[0][0] == 3
    assert database.columns("crm.orders") == ["id", "customer_id", "amount"]

    # every event validates: spec, facet schemas, Marquez's rules (docs/marquez.md; stream rules too)
    text = path.read_text()
    assert validate_lines(text.splitlines()) == []
    result = cli("events", "validate", str(path))
    assert result.code == 0, result.out
    all_events = events_of(path)
    assert len(all_events) == 2 + 2 * 7

    # no literal of the classified table reached the events (sql facet, error messages)
    for secret in ("Oslo", "bob@corp.com", "123-45-6789"):
        assert secret not in text

    runs = by_run(all_events)
    task = runs.pop(identity.run_id)
    assert [e["eventType"] for e in task] == ["START", "COMPLETE"]
    assert task[0]["run"]["facets"]["parent"]["run"]["runId"] == identity.parent_run_id
    assert task[0]["job"]["facets"]["jobType"] == {**task[0]["job"]["facets"]["jobType"], "integration": "AIRFLOW", "jobType": "TASK"}

    statements = sorted(runs.values(), key=lambda events: events[0]["job"]["name"])
    assert [events[0]["job"]["name"] for events in statements] == [f"etl_dag.load.query.{n}" for n in range(1, 8)]
    for events in statements:
        start, end = events
        assert start["eventType"] == "START" and end["eventType"] in ("COMPLETE", "FAIL")
        for event in events:
            parent = event["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == identity.run_id and parent["job"] == {"namespace": "airflow-test", "name": "etl_dag.load", "facets": {}}
            assert parent["root"]["run"]["runId"] == identity.root_run_id
            assert event["job"]["namespace"] == "airflow-test"
            assert event["run"]["facets"]["lineageGovernance_identity"]["principal"] == "svc:etl"
            assert event["run"]["facets"]["lineageGovernance_identity"]["attributes"]["task_id"] == "load"
        assert start["inputs"] == end["inputs"] and start["outputs"] == end["outputs"]  # repeated, schema included
        for dataset in (*end["inputs"], *end["outputs"]):
            assert dataset["namespace"] == database.namespace and dataset["name"].startswith(database.database + ".")
    select, insert, ctas, blocked, held, approved, failed = statements

    # select, masked at scan time
    decision = select[1]["run"]["facets"]["lineageGovernance_decision"]
    assert decision["action"] == "mask" and decision["outcome"] == "completed" and decision["maskedColumns"]
    customers = select[1]["inputs"][0]
    assert customers["name"] == f"{database.database}.crm.customers"
    assert [f["name"] for f in customers["facets"]["schema"]["fields"]] == ["id", "name", "email", "ssn", "salary", "dob", "age", "city"]
    assert customers["inputFacets"]["lineageGovernance_masking"]["columns"] == [{"name": "email", "strategy": "email", "tags": ["pii.email"]}]
    assert customers["facets"]["lineageGovernance_classifications"]["columns"]["ssn"] == ["pii.ssn"]
    query = select[1]["job"]["facets"]["sql"]["query"]
    assert "split_part" in query.lower() and "Oslo" not in query  # the masked form, literals out

    # insert ... select: column lineage into the output's schema fields
    output = insert[1]["outputs"][0]
    assert output["name"] == f"{database.database}.mart.contacts"
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["email"]["inputFields"][0]["name"] == f"{database.database}.crm.customers"
    assert lineage["email"]["inputFields"][0]["field"] == "email"
    # the identity may not read emails raw: what landed in the mart is the masked value
    assert lineage["email"]["transformationType"] == "MASKED"
    assert lineage["email"]["inputFields"][0]["transformations"][0] == {
        "type": "DIRECT", "subtype": "IDENTITY", "masking": True, "description": f"identity of {database.database}.crm.customers.email, masked (email)"}
    assert lineage["id"]["transformationType"] == "IDENTITY"

    # create table as select: the new table's schema and an aggregation
    output = ctas[1]["outputs"][0]
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == ["customer_id", "total"]
    assert output["facets"]["columnLineage"]["fields"]["total"]["transformationType"] == "AGGREGATION"

    # blocked: START then FAIL with the refusal and the decision
    assert blocked[0]["run"]["facets"]["lineageGovernance_decision"]["outcome"] == "blocked"
    end = blocked[1]
    assert end["eventType"] == "FAIL"
    assert "delete_without_where" in end["run"]["facets"]["errorMessage"]["message"]
    assert end["run"]["facets"]["lineageGovernance_decision"]["action"] == "block"
    assert end["outputs"][0]["name"] == f"{database.database}.crm.orders"

    # approval-gated: held (FAIL, request id), then approved (COMPLETE, approval id)
    assert held[1]["eventType"] == "FAIL"
    assert held[1]["run"]["facets"]["lineageGovernance_decision"]["approval"] == {"requestId": "req-42"}
    assert held[1]["run"]["facets"]["lineageGovernance_decision"]["outcome"] == "awaiting_approval"
    assert approved[1]["eventType"] == "COMPLETE"
    assert approved[1]["run"]["facets"]["lineageGovernance_decision"]["approval"] == {"id": "appr-7", "approver": "olga@corp"}

    # a database error: FAIL, first line of the error only
    message = failed[1]["run"]["facets"]["errorMessage"]["message"]
    assert failed[1]["eventType"] == "FAIL" and "\n" not in message and "DETAIL" not in message
    assert failed[1]["run"]["facets"]["lineageGovernance_decision"]["outcome"] == "failed"


def test_sql_facet_keeps_literals_of_unclassified_statements(loaded_policy, tmp_path):
    connection = duckdb.connect()
    connection.execute("create schema sales; create table sales.items (id integer, label text)")
    engine = Engine(loaded_policy, Catalog.from_duckdb(connection), dialect="duckdb")
    path = tmp_path / "events.jsonl"
    governor = Governor(engine, events=GovernanceEvents(EventEmitter([JsonlSink(path)]), engine))
    identity = RunIdentity(principal="svc:etl", job_name="load")
    governor.execute("insert into sales.items values (1, 'widget')", identity, lambda sql: connection.execute(sql).fetchall(), ExecutionContext("duckdb", duckdb_namespace(":memory:"), "memory"))
    start, complete = events_of(path)
    assert start["job"]["facets"]["sql"]["query"] == "insert into sales.items values (1, 'widget')"
    assert start["job"]["name"] == "load.query.1" and start["run"]["facets"]["parent"]["root"]["run"]["runId"] == identity.run_id
    assert validate_lines(path.read_text().splitlines()) == []


def test_job_runs_for_dbt_and_an_unparented_job(tmp_path):
    path = tmp_path / "events.jsonl"
    events = GovernanceEvents(EventEmitter([JsonlSink(path)]))
    invocation = RunIdentity(principal="svc:dbt", source="dbt", job_namespace="dbt", job_name="jaffle_shop", attributes={"invocation_id": "abc"})
    node = invocation.with_(
        run_id=new_run_id(), job_name="jaffle_shop.model.customers",
        parent_run_id=invocation.run_id, parent_job_namespace="dbt", parent_job_name="jaffle_shop",
        attributes={"invocation_id": "abc", "node_id": "model.jaffle_shop.customers"},
    )
    events.job_started(invocation, "JOB")
    events.job_started(node, "MODEL")
    events.job_failed(node, "MODEL", error="Database Error in model customers")
    events.job_completed(invocation, "JOB")
    assert validate_lines(path.read_text().splitlines()) == []
    first, second, third, fourth = events_of(path)
    assert "parent" not in first["run"]["facets"]
    assert first["job"]["facets"]["jobType"]["integration"] == "DBT" and first["job"]["facets"]["jobType"]["jobType"] == "JOB"
    assert third["eventType"] == "FAIL" and third["run"]["facets"]["errorMessage"]["message"] == "Database Error in model customers"
    assert third["run"]["facets"]["parent"]["job"]["name"] == "jaffle_shop"
    assert third["run"]["facets"]["parent"]["root"]["run"]["runId"] == invocation.run_id
    assert third["run"]["facets"]["lineageGovernance_identity"]["attributes"]["node_id"] == "model.jaffle_shop.customers"


def test_serialisation_matches_openlineage_python(loaded_policy, catalog):
    from openlineage.client.serde import Serde

    from lineage.deliver.build import statement_event, statement_job_facets, statement_run_facets
    from lineage.deliver.datasets import Where, statement_datasets
    from lineage.deliver.emit import SharedParts, serialize
    from openlineage.client.event_v2 import RunState

    engine = Engine(loaded_policy, catalog)
    identity = RunIdentity(principal="alice")
    decision = engine.check("insert into mart.contacts select id, email from crm.customers", identity)[0]
    inputs, outputs = statement_datasets(decision, Where("postgres://localhost:5432", "analytics", "postgres"), catalog, engine.classifier)
    run_facets, job_facets = statement_run_facets(identity), statement_job_facets("select 1", "postgres")
    event = statement_event(RunState.START, identity, decision, run_id=new_run_id(), number=1, inputs=inputs, outputs=outputs,
                            outcome="started", run_facets=run_facets, job_facets=job_facets)
    assert serialize(event) == Serde.to_json(event)
    assert serialize(event, SharedParts([inputs, outputs, job_facets, *run_facets.values()])) == Serde.to_json(event)
    assert outputs[0].facets["columnLineage"].fields["email"].inputFields[0].field == "email"


def test_events_never_break_the_statement(loaded_policy, catalog, caplog):
    class Broken:
        def emit(self, event, shared=None):
            raise RuntimeError("disk on fire")

    connection = duckdb.connect()
    connection.execute("create schema crm; create table crm.orders (id int, customer_id int, amount int, status text); insert into crm.orders values (1, 1, 5, 'x')")
    engine = Engine(loaded_policy, Catalog.from_duckdb(connection), dialect="duckdb")
    governor = Governor(engine, events=GovernanceEvents(Broken(), engine))
    outcome = governor.execute("select amount from crm.orders", RunIdentity(principal="a"), lambda sql: connection.execute(sql).fetchall(), ExecutionContext("duckdb"))
    assert outcome[0].result == [(5,)]
    assert "could not emit START" in caplog.text


def test_audit_mode_records_the_decision_but_claims_no_masking(policy_path, tmp_path):
    from lineage.policy import load_policy_text

    policy = load_policy_text(policy_path.read_bytes().replace(b"mode: enforce", b"mode: audit"), "audit.yaml")
    db = Database("duckdb", tmp_path)
    engine = Engine(policy, db.catalog, dialect="duckdb")
    path = tmp_path / "events.jsonl"
    governor = Governor(engine, events=GovernanceEvents(EventEmitter([JsonlSink(path)]), engine))
    outcome = governor.execute("select id, email from crm.customers where id = 1", dag_task_identity(), db.run,
                               ExecutionContext("duckdb", db.namespace, db.database))[0]
    assert outcome.result == [(1, "alice@corp.com")]  # audit: the original SQL ran
    start, complete = events_of(path)
    decision = complete["run"]["facets"]["lineageGovernance_decision"]
    assert decision["action"] == "mask" and decision["effectiveAction"] == "allow" and decision["mode"] == "audit"
    assert "lineageGovernance_masking" not in complete["inputs"][0]["inputFacets"]
    assert validate_lines(path.read_text().splitlines()) == []
