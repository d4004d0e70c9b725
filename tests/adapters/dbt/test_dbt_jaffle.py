"""``lineage dbt`` on a project shaped like dbt-labs' jaffle_shop, run as a new user would, with
real dbt on DuckDB and PostgreSQL 15 (``tests/jaffle_governed``: seeds -> staging views through
governed ``ref()``/``source()`` -> marts, one of them classified itself, partly through column meta).

- the mart whose own columns are classified runs: a classification of the column being written
  is not a raw source of the write; no ``select_star_on_classified`` warning on masked reads;
- ledger and events name exactly the masks in the SQL that ran, for every statement dbt sent
  (the truth read from dbt's own log, by the masks' shape: ``masks_in_sql``);
- running the seeds again (PostgreSQL truncates their tables) records nothing as blocked;
- a second governed run parses partially, with PostgreSQL sessions named after the run;
- a rerun with ``--approval`` says which approval covers the held model.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from dbt_helpers import environment, link_package
from lineage.decide.analysis import split_statements
from lineage.approve.approvals import Approvals, ApprovalStore
from lineage.adapters.dbt.runner import Options, run_dbt
from lineage.fingerprint import normalize
from lineage.approve.verify import signer_for
from lineage.record import open_ledger
from lineage.policy import load_policy
from lineage.approve.approver_keys import ApproverKeys
from masks_in_sql import masks_in

pytestmark = [pytest.mark.dbt]

JAFFLE = Path(__file__).resolve().parents[2] / "jaffle_governed"
APPROVER_NAME = "alice@corp"  # in data-owners (the project's policy)


class Shop:
    """A copy of the project on one warehouse, with its state (ledger, events, approvals)."""

    def __init__(self, kind: str, root: Path, postgres=None, database: str = "jaffle_governed"):
        self.kind, self.root, self.postgres, self.database = kind, root, postgres, database
        self.project = root / "project"
        shutil.copytree(JAFFLE, self.project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb"))
        link_package(self.project)
        self.state = root / "state"
        self.state.mkdir()
        # approvals are signed: the project's policy trusts an approver key made for this test
        self.keys = ApproverKeys(root / "keys")
        policy = self.project / "policy.yaml"
        identity = f"identity:\n  groups: [{{principal: {APPROVER_NAME}, groups: [data-owners]}}]\n"
        policy.write_text(self.keys.policy_text(policy.read_text() + identity, [APPROVER_NAME]))
        if kind == "postgres":
            import psycopg

            with psycopg.connect(postgres.dsn, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}"')
                connection.execute(f'CREATE DATABASE "{database}"')

    def env(self, **extra: str) -> dict[str, str | None]:
        env = {"DBT_PROFILES_DIR": str(self.project), "DBT_PROJECT_DIR": str(self.project), "DO_NOT_TRACK": "1",
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "LINEAGE_PRINCIPAL": "svc:dbt", "LINEAGE_GROUPS": None,
               "LINEAGE_DBT_PLAN": None, "LINEAGE_RUN_ID": None, "OPENLINEAGE_URL": None, "OPENLINEAGE_PARENT_ID": None}
        if self.kind == "postgres":
            env.update({"JAFFLE_TARGET": "postgres", "JAFFLE_PGPORT": str(self.postgres.port), "JAFFLE_PGDATABASE": self.database})
        else:
            env.update({"JAFFLE_TARGET": "duckdb", "JAFFLE_DUCKDB": str(self.root / f"{self.database}.duckdb")})
        env.update(extra)
        return env

    def run(self, args: list[str], groups=None, approvals=()):
        options = Options(
            policy=str(self.project / "policy.yaml"), groups=groups, approval_ids=tuple(approvals), ledger=str(self.state / "ledger.db"),
            approvals=f"sqlite:///{self.state / 'approvals.db'}", events_file=str(self.state / "events.jsonl"),
        )
        out = io.StringIO()
        with environment(self.env()):
            outcome = run_dbt([*args, "--log-format-file", "json"], options, out=out)
        outcome.printed = out.getvalue()
        return outcome

    def rows(self, sql: str) -> list[tuple]:
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(str(self.root / f"{self.database}.duckdb"), read_only=True) as connection:
                return connection.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.postgres.dsn_for(self.database)) as connection:
            return connection.execute(sql).fetchall()

    def records(self, run_id: str) -> list[dict]:
        with open_ledger(self.state / "ledger.db", create=False) as ledger:
            return [e.body for e in ledger.entries() if e.body["kind"] == "statement" and e.body["identity"]["run_id"] == run_id]

    def events(self) -> list[dict]:
        return [json.loads(line) for line in (self.state / "events.jsonl").read_text().splitlines()]

    def log(self, invocation_id: str) -> list[dict]:
        """dbt's own structured log of one invocation."""
        events = []
        for line in (self.project / "logs" / "dbt.log").read_text().splitlines():
            event = json.loads(line)
            if event["info"].get("invocation_id") == invocation_id:
                events.append(event)
        return events

    def sent(self, invocation_id: str) -> list[tuple[str | None, str]]:
        """(node id, SQL) of every statement dbt sent in one invocation, from its log."""
        return [(e["data"].get("node_info", {}).get("unique_id") or None, e["data"]["sql"]) for e in self.log(invocation_id) if e["info"]["name"] == "SQLQuery"]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def shop(request, tmp_path_factory):
    postgres = request.getfixturevalue("postgres") if request.param == "postgres" else None
    return Shop(request.param, tmp_path_factory.mktemp(f"jaffle-{request.param}"), postgres)


@pytest.fixture(scope="module")
def built(shop):
    outcome = shop.run(["build"])
    assert outcome.exit_code == 0, outcome.message + outcome.printed
    return outcome


def test_the_classified_mart_runs_and_holds_masked_names(shop, built):
    report = built.report
    assert [f for f in report["findings"] if f["rule"] == "pii_to_unapproved_zone"] == []
    first_name = report["classifications"][f"{shop.database}.main.customers"]["first_name"]["pii.name"]
    assert first_name["raw"] is False and first_name["path"][0].endswith("main.raw_customers.first_name")
    names = shop.rows("select first_name, last_name, email from main.customers")
    assert len(names) == 20
    assert all(re.fullmatch(r"[A-Z]\*+", first) and re.fullmatch(r"[A-Z]\*+", last) for first, last, _ in names)
    assert all(re.fullmatch(r"\*+@example\.com", email) for _, _, email in names)


def test_no_select_star_warning_on_a_masked_read(built):
    assert [f["node"] for f in built.report["findings"] if f["rule"] == "select_star_on_classified"] == []
    assert "select_star_on_classified" not in built.printed and built.report["action"] == "allow"


def qualified(name: str) -> str:
    return name.lower()


def test_ledger_and_events_name_exactly_the_masks_in_the_sql_that_ran(shop, built):
    dialect = shop.kind
    truth: dict[str, set[str]] = {}  # statement fingerprint -> masked columns in the SQL that ran
    per_node: dict[str, set[str]] = defaultdict(set)
    for node, sql in shop.sent(built.invocation_id):
        for statement in split_statements(sql, dialect):
            masked = {f"{table}.{column}" for table, column in masks_in(statement.sql, dialect)}
            fingerprint = normalize(statement.sql, dialect)[1]
            assert truth.setdefault(fingerprint, masked) == masked
            if node:
                per_node[node] |= masked
    assert {column.rsplit(".", 2)[-2] + "." + column.rsplit(".", 1)[1] for masked in truth.values() for column in masked} >= {
        "raw_customers.first_name", "raw_customers.last_name", "raw_customers.email", "stg_customers.email"}

    records = shop.records(built.identity["run_id"])
    assert {body["statement"]["fingerprint"] for body in records} == set(truth)
    for body in records:
        assert {qualified(c) for c in body["masked_columns"]} == truth[body["statement"]["fingerprint"]], body["statement"]["sql"][:300]
        assert body["decision"]["action"] == ("mask" if body["masked_columns"] else body["decision"]["action"])

    node_runs = {run: node for node, run in built.node_runs.items()}
    checked = 0
    for event in shop.events():
        node = node_runs.get(event["run"]["runId"])
        if node is None:
            continue
        expected = per_node.get(node, set())
        decision = event["run"]["facets"]["lineageGovernance_decision"]
        assert {qualified(c) for c in decision["maskedColumns"]} == expected, (node, event["eventType"])
        facet = {f"{qualified(i['name'])}.{c['name'].lower()}" for i in event["inputs"] for c in i.get("inputFacets", {}).get("lineageGovernance_masking", {}).get("columns", [])}
        assert {column.split(".", 1)[1] for column in facet} == {column.split(".", 1)[1] for column in expected}, (node, event["eventType"])
        for output in event["outputs"]:
            for field in output["facets"].get("columnLineage", {}).get("fields", {}).values():
                for source in field["inputFields"]:
                    column = f"{qualified(source['name'])}.{source['field'].lower()}".split(".", 1)[1]
                    flagged = any(t["masking"] for t in source["transformations"])
                    assert flagged == (column in {c.split(".", 1)[1] for c in expected}), (node, event["eventType"], column)
        checked += 1
    assert checked >= 2 * 10  # START and COMPLETE of every model and test


def test_running_the_seeds_again_records_nothing_as_blocked(shop, built, cli):
    again = shop.run(["seed"])
    assert again.exit_code == 0, again.message
    run_id = again.identity["run_id"]
    finished = [b for b in shop.records(run_id) if b["phase"] == "finished"]
    assert finished and all(b["decision"]["action"] in ("allow", "warn", "mask") for b in finished)
    assert all(b["decision"]["effective_action"] in ("allow", "warn", "mask") for b in finished)
    if shop.kind == "postgres":  # dbt-postgres empties a seed's table before loading it again
        truncated = [b for b in finished if b["statement"]["kind"] == "truncate"]
        assert {b["identity"]["attributes"]["node_id"] for b in truncated} == {f"seed.jaffle_governed.{name}" for name in ("raw_customers", "raw_orders", "raw_payments")}
        assert all(b["decision"]["action"] == "allow" for b in truncated)
    shown = cli("ledger", "show", "--ledger", str(shop.state / "ledger.db"), "--run", run_id, "--action", "block", "--format", "json")
    assert shown.code == 0 and json.loads(shown.out or "[]") == []


def test_a_second_governed_run_parses_partially_and_names_its_postgres_sessions(shop, built):
    second = shop.run(["run", "--select", "stg_orders"])
    assert second.exit_code == 0, second.message
    names = [e["info"]["name"] for e in shop.log(second.invocation_id)]
    reasons = [e["data"].get("reason") for e in shop.log(second.invocation_id) if e["info"]["name"] == "UnableToPartialParse"]
    assert reasons == [] and "PartialParsingSkipParsing" in names, reasons
    if shop.kind == "postgres":
        from lineage.evidence.csvlog import read_statements

        logged = [s for s in read_statements(shop.postgres.csv_logs()) if s.database == shop.database and f"run_id='{second.identity['run_id']}'" in s.sql]
        assert logged and {s.application for s in logged} == {f"lg:{second.identity['run_id']}:svc:dbt"}
        # a profile written from the earlier README, which took the name from the environment
        profiles = shop.project / "profiles.yml"
        written = profiles.read_text()
        assert written.rstrip().endswith("threads: 2") and "postgres:" in written.rsplit("duckdb:", 1)[1]  # the postgres output is last
        profiles.write_text(written + "      application_name: \"{{ env_var('LINEAGE_APPLICATION_NAME', 'dbt') }}\"\n")
        try:
            shop.run(["run", "--select", "stg_orders"])  # the profile changed: dbt parses in full once
            third = shop.run(["run", "--select", "stg_orders"])
            assert [e["data"].get("reason") for e in shop.log(third.invocation_id) if e["info"]["name"] == "UnableToPartialParse"] == []
        finally:
            profiles.write_text(written)


def test_a_rerun_with_an_approval_says_which_approval_covers_the_model(shop, built):
    if shop.kind != "duckdb":
        pytest.skip("the approval flow does not depend on the warehouse")
    model = shop.project / "models" / "staging" / "stg_customers.sql"
    original = model.read_text()
    model.write_text(original.replace("    last_name,\n", ""))
    try:
        held = shop.run(["run", "--select", "stg_customers"])
        assert held.exit_code == 3 and len(held.requests) == 1, held.message
        assert re.search(r"REQUIRE_APPROVAL +model\.jaffle_governed\.stg_customers +drop_column", held.printed)
        Approvals(load_policy(shop.project / "policy.yaml"), ApprovalStore(f"sqlite:///{shop.state / 'approvals.db'}")).approve(
            held.requests[0], signer_for(load_policy(shop.project / "policy.yaml").policy.approvals, shop.keys.key(APPROVER_NAME)))
        approved = shop.run(["run", "--select", "stg_customers"], approvals=held.requests)
        assert approved.exit_code == 0, approved.message
        assert "REQUIRE_APPROVAL" not in approved.printed
        request = held.requests[0]
        assert re.search(rf"APPROVED +model\.jaffle_governed\.stg_customers +drop_column: .*runs under approval {request} by alice@corp", approved.printed), approved.printed
        assert f"approved ({request} by alice@corp)" in approved.printed.splitlines()[0]
    finally:
        model.write_text(original)
