"""`lineage exec` reports every governed statement as an OpenLineage run, like every other path:
to LINEAGE_EVENTS_FILE, and through the spool to openlineage-python's configured transport
(here a Marquez-contract server at OPENLINEAGE_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from lineage.deliver.validate import validate_events
from lineage.deliver.marquez.server import MarquezServer

pytestmark = pytest.mark.postgres
LINEAGE = str(Path(sys.executable).parent / "lineage")


@pytest.fixture
def shop(postgres):
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute("drop database if exists exec_events with (force)")
        admin.execute("create database exec_events")
    dsn = postgres.dsn_for("exec_events")
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("create schema crm; create table crm.customers (id int, name text, email text, ssn text)")
        setup.execute("insert into crm.customers values (1, 'Ada', 'ada@example.com', '123-45-6789')")
        setup.execute("create schema mart; create table mart.contacts (id int, email text)")
    return dsn


def lineage_exec(dsn: str, sql: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "LINEAGE_LEDGER_URL": str(tmp_path / "ledger.db"), "LINEAGE_PRINCIPAL": "svc:etl", "LINEAGE_ENV": "prod", **env}
    return subprocess.run([LINEAGE, "exec", "--dsn", dsn, "--policy", str(Path(__file__).resolve().parents[1] / "data" / "policy.yaml"), "--job", "nightly", "--sql", sql],
                          env=environment, capture_output=True, text=True, timeout=120)


def test_every_statement_is_a_run_in_the_events_file_and_at_the_backend(shop, tmp_path):
    events_file = tmp_path / "events.jsonl"
    with MarquezServer() as server:
        result = lineage_exec(shop, "insert into mart.contacts select id, email from crm.customers; select count(*) from mart.contacts", tmp_path,
                              LINEAGE_EVENTS_FILE=str(events_file), OPENLINEAGE_URL=server.url, LINEAGE_EVENTS_SPOOL=str(tmp_path / "spool.db"))
        assert result.returncode == 0, result.stderr
        written = [json.loads(line) for line in events_file.read_text().splitlines()]
        assert [(e["job"]["name"], e["eventType"]) for e in written] == [
            ("nightly", "START"), ("nightly.query.1", "START"), ("nightly.query.1", "COMPLETE"),
            ("nightly.query.2", "START"), ("nightly.query.2", "COMPLETE"), ("nightly", "COMPLETE")]
        assert validate_events(written) == []
        invocation = written[0]["run"]["runId"]
        insert = written[2]
        assert insert["run"]["facets"]["parent"]["run"]["runId"] == invocation
        assert insert["run"]["facets"]["lineageGovernance_decision"]["action"] == "mask"  # crm.customers.email read masked
        assert [d["name"] for d in insert["inputs"]] == ["exec_events.crm.customers"] and [d["name"] for d in insert["outputs"]] == ["exec_events.mart.contacts"]
        assert insert["inputs"][0]["namespace"] == f"postgres://127.0.0.1:{shop.rsplit(':', 1)[1].split('/')[0]}"
        assert "lineageGovernance_masking" in insert["inputs"][0]["inputFacets"]
        # the spool delivered the same events before the command exited
        assert [(e["run"]["runId"], e["eventType"]) for e in server.events] == [(e["run"]["runId"], e["eventType"]) for e in written]
        assert server.rejected == []


def test_a_blocked_statement_is_a_failed_run_and_so_is_the_invocation(shop, tmp_path):
    events_file = tmp_path / "events.jsonl"
    result = lineage_exec(shop, "select id from crm.customers where id = 1; delete from crm.customers", tmp_path, LINEAGE_EVENTS_FILE=str(events_file))
    assert result.returncode == 1 and "delete_without_where" in result.stderr
    written = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [(e["job"]["name"], e["eventType"]) for e in written][-3:] == [("nightly.query.2", "START"), ("nightly.query.2", "FAIL"), ("nightly", "FAIL")]
    assert "delete_without_where" in written[-1]["run"]["facets"]["errorMessage"]["message"]
    assert validate_events(written) == []
