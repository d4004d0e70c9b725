"""Shared fixtures: the example policy and catalog, the CLI in-process, a throwaway PostgreSQL."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORPUS = ROOT / "bench" / "corpus"


@pytest.fixture(autouse=True)
def _state_in_tmp(tmp_path, monkeypatch):
    """Ledger, approvals and spool default to files under the working directory: keep tests' in tmp."""
    state = tmp_path / "lineage-state"
    monkeypatch.setenv("LINEAGE_LEDGER_URL", str(state / "ledger.db"))
    monkeypatch.setenv("LINEAGE_EVENTS_SPOOL", str(state / "events-spool.db"))
    monkeypatch.delenv("LINEAGE_APPROVALS_URL", raising=False)
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)


@pytest.fixture(scope="session")
def policy_path() -> Path:
    return DATA / "policy.yaml"


@pytest.fixture(scope="session")
def catalog_path() -> Path:
    return DATA / "catalog.json"


@pytest.fixture(scope="session")
def loaded_policy(policy_path):
    from lineage.policy import load_policy

    return load_policy(policy_path)


@pytest.fixture(scope="session")
def catalog(catalog_path):
    from lineage.decide.catalog import Catalog

    return Catalog.from_json_file(catalog_path, dialect="postgres")


@pytest.fixture
def engine(loaded_policy, catalog):
    from lineage.decide.engine import Engine

    return Engine(loaded_policy, catalog, dialect="postgres")


@pytest.fixture
def identity():
    from lineage.identity.run_identity import RunIdentity

    return RunIdentity(principal="alice@corp", groups=("analysts",), environment="dev")


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``lineage ...`` in-process; returns exit code, stdout and stderr."""
    from lineage.cli import main

    def run(*argv: str, stdin: str | None = None) -> CliResult:
        if stdin is not None:
            import io

            fake = io.StringIO(stdin)
            fake.isatty = lambda: False  # type: ignore[method-assign]
            monkeypatch.setattr(sys, "stdin", fake)
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL 15 server for the session, with a CSV log of every statement."""
    from testkit.postgres import ThrowawayPostgres

    server = ThrowawayPostgres(csvlog=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    """One Airflow 3 home for the session (SQLite metadata DB, tests/airflow_dags, the plugin
    configured through [lineage_governance]); tests run DAGs with ``airflow_home.test(dag_id)``."""
    from testkit.airflow_home import AirflowHome
    from lineage.approve.approver_keys import ApproverKeys

    root = tmp_path_factory.mktemp("airflow")
    # approvers sign with keys this session makes; the UI signs with its server key
    keys = ApproverKeys(root / "keys")
    policy = keys.policy(DATA / "airflow_policy.yaml", root / "airflow_policy.yaml", approvers=["carol", "dag_test", "mallory"], servers=["airflow-ui"])
    home = AirflowHome.create(
        root,
        dags=[*sorted((ROOT / "tests" / "airflow_dags").glob("*.py")), *sorted((ROOT / "dags_examples").glob("*.py")), ROOT / "dags_examples" / "sql"],
        settings={
            "policy_file": policy,
            "approvals_signing_key": keys.path("airflow-ui"),
            "environment": "prod",
            "ledger_url": f"sqlite:///{root / 'ledger.db'}",
            "approvals_url": f"sqlite:///{root / 'approvals.db'}",
            "approval_poll_interval": "0.2",
        },
    )
    home.activate()
    home.keys = keys
    home.policy_file = policy
    home.warehouse = root / "warehouse.duckdb"
    home.connection("warehouse", conn_type="duckdb", host=str(home.warehouse))
    return home
