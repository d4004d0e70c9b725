"""A governed dbt run on a warehouse, shared by the dbt tests."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from dbt_helpers import environment
from lineage.adapters.dbt.runner import Options, run_dbt
from lineage.record import open_ledger
from lineage.approve.approver_keys import ApproverKeys
from testkit.dbt_project import EXAMPLE, project_env


ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = ROOT / "dags_examples" / "dbt_project" / "policy.yaml"
# the example policy, trusting an approver key made for this test session (alice is in data-owners)
KEYS = ApproverKeys(Path(tempfile.mkdtemp(prefix="dbt-approver-keys-")))
POLICY = Path(KEYS.folder) / "policy.yaml"
POLICY.write_text(KEYS.policy_text(EXAMPLE_POLICY.read_text() + "identity:\n  groups: [{principal: alice@corp, groups: [data-owners]}]\n", ["alice@corp"]))


def raw_values() -> set[str]:
    """Every PII value the seeds hold (names, emails, SSNs, birth dates)."""
    with open(EXAMPLE / "seeds" / "raw_customers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row[key] for row in rows for key in ("first_name", "last_name", "email", "ssn", "birth_date")}


class Warehouse:
    """One database of the example project: how to point dbt at it and read it back."""

    def __init__(self, kind: str, root: Path, postgres=None, database: str = "governed_shop"):
        self.kind, self.root, self.postgres, self.database = kind, root, postgres, database
        self.duckdb = root / f"{database}.duckdb"
        if kind == "postgres":
            import psycopg

            with psycopg.connect(postgres.dsn, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}"')
                connection.execute(f'CREATE DATABASE "{database}"')

    def env(self, project: Path, **extra: str) -> dict[str, str]:
        pg = {"host": "127.0.0.1", "port": str(self.postgres.port), "user": "postgres", "password": "", "dbname": self.database} if self.kind == "postgres" else None
        env = project_env(project, duckdb=self.duckdb if self.kind == "duckdb" else None, postgres=pg)
        env = {key: value for key, value in env.items() if key not in ("LINEAGE_GROUPS", "OPENLINEAGE_URL")}  # not from the caller
        env.update(extra)
        return env

    def rows(self, sql: str) -> list[tuple]:
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(str(self.duckdb), read_only=True) as connection:
                return connection.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.postgres.dsn_for(self.database)) as connection:
            return connection.execute(sql).fetchall()

    def tables(self) -> set[str]:
        if self.kind == "duckdb" and not self.duckdb.exists():
            return set()
        rows = self.rows("select table_schema || '.' || table_name from information_schema.tables where table_schema in ('raw', 'staging', 'marts')")
        return {row[0] for row in rows}


class Run:
    def __init__(self, outcome, state: Path, project: Path, warehouse: Warehouse):
        self.outcome, self.state, self.project, self.warehouse = outcome, state, project, warehouse

    @property
    def run_id(self) -> str:
        return self.outcome.identity["run_id"]

    def ledger(self):
        with open_ledger(self.state / "ledger.db", create=False) as ledger:
            return [entry.body for entry in ledger.entries()]

    def events(self) -> list[dict]:
        path = self.state / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def governed(warehouse: Warehouse, project: Path, state: Path, args: list[str], groups=None, approvals=(), **extra) -> Run:
    state.mkdir(parents=True, exist_ok=True)
    env = warehouse.env(project, LINEAGE_PRINCIPAL="svc:dbt", **extra)
    options = Options(
        policy=str(POLICY), groups=groups, approval_ids=tuple(approvals), ledger=str(state / "ledger.db"),
        approvals=f"sqlite:///{state / 'approvals.db'}", events_file=str(state / "events.jsonl"), report_json=str(state / "report.json"),
    )
    with environment(env):
        outcome = run_dbt(args, options)
    return Run(outcome, state, project, warehouse)

