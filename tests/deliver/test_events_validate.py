"""Each validation layer, and each check of a Marquez rule (docs/marquez.md), catches the event that breaks it.

The valid events come from a real governed INSERT ... SELECT on DuckDB; every negative test
breaks one thing and asserts that the responsible check (and the validator) reports it.
"""

from __future__ import annotations

import copy
import json

import duckdb
import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.deliver import marquez
from lineage.deliver.emit import EventEmitter, JsonlSink
from lineage.deliver.governance import GovernanceEvents
from lineage.deliver.naming import duckdb_namespace
from lineage.deliver.validate import Validator, validate_event, validate_events
from lineage.governor import ExecutionContext, Governor
from lineage.identity.run_identity import RunIdentity


@pytest.fixture(scope="module")
def pair(tmp_path_factory, loaded_policy):
    """START and COMPLETE of a governed INSERT ... SELECT (parent, schema, column lineage)."""
    connection = duckdb.connect()
    connection.execute("create schema crm; create schema mart;"
                       "create table crm.customers (id int, name text, email text, ssn text, salary decimal(12,2), dob date, age int, city text);"
                       "create table mart.contacts (id int, email text)")
    engine = Engine(loaded_policy, Catalog.from_duckdb(connection), dialect="duckdb")
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    governor = Governor(engine, events=GovernanceEvents(EventEmitter([JsonlSink(path)]), engine))
    identity = RunIdentity(principal="svc:etl", job_namespace="etl", job_name="load_contacts")
    governor.execute("insert into mart.contacts select id, email from crm.customers", identity,
                     lambda sql: connection.execute(sql).fetchall(), ExecutionContext("duckdb", duckdb_namespace(":memory:"), "memory"))
    start, complete = [json.loads(line) for line in path.read_text().splitlines()]
    assert validate_events([start, complete]) == []
    return start, complete


def broken(event, change):
    event = copy.deepcopy(event)
    change(event)
    return event


def delete(path):
    def change(event):
        *parents, last = path
        target = event
        for key in parents:
            target = target[key]
        del target[last]
    return change


def assign(path, value):
    def change(event):
        *parents, last = path
        target = event
        for key in parents:
            target = target[key]
        target[last] = value
    return change


EVENT_RULES = [
    ("event_type", delete(["eventType"]), "eventType is missing"),
    ("event_type", assign(["eventType"], "DONE"), "is not one of"),
    ("job_type_fields", delete(["job", "facets", "jobType", "jobType"]), "jobType.jobType is missing"),
    ("job_type_fields", delete(["job", "facets", "jobType", "integration"]), "jobType.integration is missing"),
    ("event_time_offset", assign(["eventTime"], "2024-05-01T10:00:00"), "has no UTC offset"),
    ("event_time_offset", assign(["eventTime"], "2024-05-01T10:00:00+01:00[Europe/London]"), "zone suffix"),
    ("run_id_uuid", assign(["run", "runId"], "manual__2024-05-01"), "run.runId 'manual__2024-05-01' is not a UUID"),
    ("run_id_uuid", assign(["run", "facets", "parent", "run", "runId"], "42"), "parent.run.runId '42' is not a UUID"),
    ("dataset_namespaces", assign(["inputs", 0, "namespace"], "duckdb:///my warehouse.duckdb"), "Marquez answers 400"),
    ("job_namespaces", assign(["job", "namespace"], "etl prod"), "job.namespace 'etl prod'"),
    ("facet_uris", assign(["run", "facets", "lineageGovernance_identity", "_producer"], "lineage-governance"), "not an absolute URI"),
    ("facet_uris", delete(["job", "facets", "sql", "_schemaURL"]), "_schemaURL None is missing"),
    ("custom_facet_schemas", assign(["run", "facets", "lineageGovernance_identity", "_schemaURL"],
                          "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"), "generic base facet"),
    ("names_without_separators", assign(["outputs", 0, "name"], "memory.mart.contacts:v2"), "contains ':'"),
    ("names_without_separators", assign(["job", "name"], "load_contacts#1"), "contains '#'"),
    ("parent_facet", assign(["run", "facets", "parent", "job", "namespace"], "elsewhere"), "differs from the job's"),
    ("parent_facet", assign(["job", "name"], "other.query.1"), "does not extend its parent's name"),
    ("column_lineage_fields", lambda e: e["outputs"][0]["facets"]["schema"]["fields"].pop(), "is not in the output's schema facet"),
    ("column_lineage_fields", assign(["inputs"], []), "not an input of this run"),
    ("column_lineage_fields", lambda e: e["inputs"][0]["facets"]["schema"]["fields"].pop(2), "is not in that input's schema facet"),
    ("column_lineage_fields", delete(["outputs", 0, "facets", "columnLineage", "fields", "email", "transformationType"]), "transformationType is missing"),
    ("column_lineage_fields", delete(["outputs", 0, "facets", "columnLineage", "fields", "email", "transformationDescription"]), "transformationDescription is missing"),
    ("column_lineage_fields", delete(["outputs", 0, "facets", "schema"]), "without a schema facet"),
]


@pytest.mark.parametrize("rule,change,expected", EVENT_RULES, ids=[f"{rule}-{i}" for i, (rule, _, _) in enumerate(EVENT_RULES)])
def test_each_marquez_rule_catches_its_break(pair, rule, change, expected):
    start, complete = pair
    for event in (start, complete):
        assert list(marquez.EVENT_CHECKS[rule](event)) == []
        bad = broken(event, change)
        found = list(marquez.EVENT_CHECKS[rule](bad))
        assert any(expected in problem for problem in found), found
        assert any(expected in problem for problem in validate_event(bad))


STREAM_RULES = [
    ("datasets_repeated", assign(["inputs"], []), "is missing; repeat inputs and outputs"),
    ("datasets_repeated", delete(["outputs", 0, "facets", "schema"]), "lost its schema facet"),
    ("parent_every_event", delete(["run", "facets", "parent"]), "run.facets.parent is missing"),
]


@pytest.mark.parametrize("rule,change,expected", STREAM_RULES, ids=[rule for rule, _, _ in STREAM_RULES])
def test_each_stream_rule_catches_its_break(pair, rule, change, expected):
    start, complete = pair
    history = marquez.RunHistory()
    history.record(start)
    assert list(marquez.STREAM_CHECKS[rule](complete, history)) == []
    bad = broken(complete, change)
    assert any(expected in problem for problem in marquez.STREAM_CHECKS[rule](bad, history))
    assert any(expected in problem for _, problem in validate_events([start, bad]))


def test_the_same_event_twice_is_caught(pair):
    start, complete = pair
    problems = validate_events([start, complete, complete])
    assert problems and all(index == 3 for index, _ in problems)
    assert "emit each event once" in problems[0][1]


def test_spec_and_facet_schemas(pair):
    start, _ = pair
    assert any(p.startswith("(event): 'run' is a required property") for p in validate_event(broken(start, delete(["run"]))))
    # our facet's own schema
    bad = broken(start, assign(["run", "facets", "lineageGovernance_decision", "action"], "maybe"))
    assert any("lineageGovernance_decision.action: 'maybe' is not one of" in p for p in validate_event(bad))
    bad = broken(start, delete(["run", "facets", "lineageGovernance_identity", "principal"]))
    assert any("'principal' is a required property" in p for p in validate_event(bad))
    # our facet's _schemaURL must be the published one
    bad = broken(start, assign(["run", "facets", "lineageGovernance_identity", "_schemaURL"], "https://example.com/Identity.json"))
    assert any("is not the published schema of lineageGovernance_identity" in p for p in validate_event(bad))
    # a standard facet checked against its own schema (the core schema only checks BaseFacet)
    bad = broken(start, assign(["job", "facets", "sql", "query"], 42))
    assert any("job.facets.sql.query: 42 is not of type 'string'" in p for p in validate_event(bad))
    bad = broken(start, assign(["outputs", 0, "facets", "columnLineage", "fields", "email", "inputFields", 0, "transformations", 0, "masking"], "no"))
    assert any("masking: 'no' is not of type 'boolean'" in p for p in validate_event(bad))
    # a facet at the wrong location
    bad = broken(start, lambda e: e["run"]["facets"].__setitem__("sql", e["job"]["facets"]["sql"]))
    assert any("'sql' is a job facet, not a run facet" in p for p in validate_event(bad))
    # formats are checked (uuid, date-time)
    bad = broken(start, assign(["run", "runId"], "not-a-uuid"))
    assert any("run.runId: 'not-a-uuid' is not a 'uuid'" in p for p in validate_event(bad))
    # another producer's custom facet passes with a proper _schemaURL
    ok = broken(start, lambda e: e["run"]["facets"].__setitem__("acme_cost", {
        "_producer": "https://acme.example/producer", "_schemaURL": "https://acme.example/schemas/1-0-0/Cost.json", "usd": 3}))
    assert validate_event(ok) == []


def test_validation_works_from_the_package_alone():
    from lineage.deliver.registry import SPEC_DIR, schema_set

    assert (SPEC_DIR / "LICENSE").is_file() and (SPEC_DIR / "SOURCE.md").is_file()
    assert ("run", "parent") in schema_set().facets and ("inputFacets", "lineageGovernance_masking") in schema_set().facets
    assert len(list(SPEC_DIR.glob("facets/*.json"))) == 38


def test_cli_validate_reports_line_and_reason(pair, tmp_path, cli):
    start, complete = pair
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([json.dumps(start), json.dumps(broken(complete, delete(["eventType"]))), "{not json", ""]) + "\n")
    result = cli("events", "validate", str(path))
    assert result.code == 1
    assert f"{path}:2: eventType is missing" in result.out
    assert f"{path}:3: not JSON" in result.out
    assert f"{path}:1:" not in result.out
    data = cli("events", "validate", str(path), "--format", "json").json()
    assert data["invalid"] == 2 and data["events"] == 3
    assert cli("events", "validate", str(tmp_path / "missing.jsonl")).code == 2
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(start) + "\n" + json.dumps(complete) + "\n")
    ok = cli("events", "validate", str(good))
    assert ok.code == 0 and "2 event(s), all valid" in ok.out


def test_validator_keeps_runs_apart(pair):
    start, complete = pair
    validator = Validator()
    other = broken(start, assign(["run", "runId"], "0190a7f4-52a4-7c2b-9b3e-0c6f2b0b7a11"))
    other = broken(other, assign(["inputs"], []))
    other = broken(other, delete(["outputs", 0, "facets", "columnLineage"]))
    assert validator.problems_in_stream(start) == []
    assert validator.problems_in_stream(other) == []  # another run: nothing to repeat
    assert validator.problems_in_stream(complete) == []
