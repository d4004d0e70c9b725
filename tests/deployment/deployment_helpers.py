"""What the deployment tests share: starting a deployment the way the README's Deploy section
says, reading the stores around it, and what the tests compare against."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from testkit.airflow_deployment import AirflowApi, AirflowDeployment, User, api_server_environment, plugin_environment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples"
HERE = Path(__file__).resolve().parent
NAMESPACE = "lineage-deploy"
ENVIRONMENT = "prod"
APPROVAL_TTL = "60s"  # the example policy's 1h, shortened so a request can expire within a test
# seconds between a waiting task's checks (default 60): well above a task try's exit, else Airflow
# 3.3's scheduler may fail the next check as "killed externally" (apache/airflow#71172)
POLL_INTERVAL = 15
# SimpleAuthManager users: admin triggers the runs; demo-approver is in the example policy's
# data-owners (the approvers); mallory is an Airflow admin but no approver
USERS = (User("admin", "admin"), User("demo-approver", "viewer"), User("mallory", "admin"))
UI_KEY = "airflow-ui"  # the API server's key in the policy's approvals.server_keys


def create_database(postgres, name: str, template: str | None = None) -> str:
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(f"drop database if exists {name}")
        connection.execute(f"create database {name}" + (f" template {template}" if template else ""))
    return postgres.dsn_for(name)


def metadata_url(postgres, database: str) -> str:
    return f"postgresql+psycopg2://postgres@127.0.0.1:{postgres.port}/{database}"


def example_policy(directory: Path, keys, functions: tuple[str, ...] = ()) -> Path:
    """The example policy, with approvals expiring after APPROVAL_TTL instead of an hour, the API
    server's public key under ``approvals.server_keys`` and ``functions`` under ``allowlist.functions``."""
    text = (EXAMPLES / "policy.yaml").read_text()
    shortened = re.sub(r"(?m)^(\s+ttl:\s*)1h\b", lambda match: match.group(1) + APPROVAL_TTL, text)
    assert shortened != text, "dags_examples/policy.yaml: no 'ttl: 1h' under approvals to shorten"
    if functions:
        assert not re.search(r"(?m)^allowlist:", shortened), "dags_examples/policy.yaml has an allowlist: merge into it"
        shortened += f"allowlist: {{functions: [{', '.join(functions)}]}}\n"
    path = directory / "policy.yaml"
    path.write_text(keys.policy_text(shortened, servers=[UI_KEY]))
    return path


@dataclass
class Deployed:
    """A running deployment and the stores around it."""

    deployment: AirflowDeployment
    ledger_url: str
    warehouse_dsn: str
    backend: Any
    policy: Path
    signing_key: Path  # the UI's private key: the API server's alone
    failed: bool = False  # a test on this deployment failed: keep its directory (logs) for a look

    def api(self, user: str = "admin") -> AirflowApi:
        return self.deployment.api(user)

    def ledger(self, dag_id: str | None = None, dag_run_id: str | None = None) -> list[dict[str, Any]]:
        """Ledger bodies (oldest first), of one DAG or DAG run if given; each with its ``seq``; none
        before the first task wrote (the ledger's tables do not exist yet)."""
        from lineage.record import LedgerError, open_ledger

        out = []
        try:
            ledger = open_ledger(self.ledger_url, create=False)
        except LedgerError:
            return out
        with ledger:
            for entry in ledger.entries():
                body = entry.body
                attributes = (body.get("identity") or {}).get("attributes") or {}
                if dag_id and attributes.get("dag_id") != dag_id:
                    continue
                if dag_run_id and attributes.get("dag_run_id") != dag_run_id:
                    continue
                out.append({"seq": entry.seq, **body})
        return out

    def verify_ledger(self):
        from lineage.record import open_ledger

        with open_ledger(self.ledger_url, create=False) as ledger:
            return ledger.verify()

    def warehouse(self, sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.warehouse_dsn, autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def columns(self, schema: str, table: str) -> list[str]:
        rows = self.warehouse(
            f"select column_name from information_schema.columns where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position"
        )
        return [row[0] for row in rows]

    def events(self) -> list[dict[str, Any]]:
        with self.backend._lock:
            return list(self.backend.events)

    def rejected(self) -> list[tuple[int, list[str]]]:
        """What the lineage backend refused (status, problems), as Marquez would have."""
        with self.backend._lock:
            return list(self.backend.rejected)

    def signing_key_holders(self) -> list[str]:
        """The components started with the UI's signing key in their environment (its setting, in
        either spelling, or its file). Read from what each was started with: Airflow's processes
        set their title (setproctitle), which overwrites what /proc/<pid>/environ shows."""
        return [
            name for name, component in self.deployment.components.items()
            if any(key.endswith("APPROVALS_SIGNING_KEY") or str(self.signing_key) in value for key, value in component.env.items())
        ]

    def task_sees(self, dag_id: str = "lg_settings") -> dict[str, Any]:
        """What a task's own code sees of the plugin's settings (tests/deployment/dags/lg_settings.py)."""
        admin = self.api("admin")
        run_id = admin.trigger(dag_id)
        assert admin.wait_for_run(dag_id, run_id) == "success", admin.states(dag_id, run_id)
        return admin.xcom(dag_id, run_id, "visible_settings")


@contextlib.contextmanager
def deploy(name: str, executor: str, postgres, backend, template: str, dags: list[Path], functions: tuple[str, ...] = (), **options: Any) -> Iterator[Deployed]:
    """Start a deployment configured as the README's Deploy section says; stop everything after.
    ``functions``: what the DAGs call beyond value functions, for the policy's ``allowlist.functions``.

    Its directory (configuration, logs of every process and task) is removed afterwards unless a
    test on it failed (or it did not start): then it stays, and the failure report names it."""
    import shutil
    import sys
    import tempfile

    from lineage.approve.approver_keys import ApproverKeys

    root = Path(tempfile.mkdtemp(prefix=f"lineage-deployment-{name}-"))
    ledger_url = create_database(postgres, f"lineage_{name}")
    warehouse_dsn = create_database(postgres, f"warehouse_{name}")
    create_database(postgres, f"airflow_{name}", template=template)
    # the UI's key pair: the private key for the API server, the public one in the policy
    keys = ApproverKeys(root / "api-server-keys")
    policy = example_policy(root, keys, functions)
    env = plugin_environment(policy, ENVIRONMENT, ledger_url, backend.url, namespace=NAMESPACE, approval_poll_interval=POLL_INTERVAL)
    # the DAGs' connection, the usual way (an environment variable on every machine that runs tasks)
    env["AIRFLOW_CONN_WAREHOUSE"] = json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": postgres.port, "login": "postgres", "schema": f"warehouse_{name}"}
    )
    deployment = AirflowDeployment(
        root / "airflow", metadata_url=metadata_url(postgres, f"airflow_{name}"), dags=dags, shared_env=env,
        executor=executor, users=USERS, migrate=False, api_server_env=api_server_environment(keys.path(UI_KEY)), **options,
    )
    deployed = Deployed(deployment, ledger_url, warehouse_dsn, backend, policy, keys.path(UI_KEY))
    try:
        deployment.start()
        yield deployed
    except BaseException:
        deployed.failed = True
        raise
    finally:
        deployment.stop()
        if deployed.failed:
            print(f"\nthe {executor} deployment's files and logs are kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


# -- what the tests compare against --------------------------------------------------------------


def task_run_id(dag_id: str, task_id: str, try_number: int, dag_run: dict[str, Any], map_index: int = -1) -> str:
    """The OpenLineage provider's run id of a task try (its build_task_instance_ol_run_id),
    from what the REST API says about the DAG run."""
    from openlineage.client.uuid import generate_static_uuid

    date = datetime.fromisoformat((dag_run.get("logical_date") or dag_run["run_after"]).replace("Z", "+00:00"))
    return str(generate_static_uuid(instant=date, data=f"{NAMESPACE}.{dag_id}.{task_id}.{try_number}.{map_index}".encode()))


def statement_events(events: list[dict[str, Any]], parent_run_id: str) -> list[dict[str, Any]]:
    """The plugin's statement runs under one task run (by their parent facet)."""
    return [
        event for event in events
        if ((event.get("run") or {}).get("facets") or {}).get("parent", {}).get("run", {}).get("runId") == parent_run_id
        and "lineageGovernance_decision" in ((event.get("run") or {}).get("facets") or {})
    ]


def event_key(event: dict[str, Any]) -> tuple:
    """One event however often it was delivered: its run, type and time."""
    return (event["run"]["runId"], event["eventType"], event["eventTime"])


def distinct(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event once, in the order of first arrival."""
    seen: dict[tuple, dict[str, Any]] = {}
    for event in events:
        seen.setdefault(event_key(event), event)
    return list(seen.values())


def contract_problems(events: list[dict[str, Any]]) -> list[tuple[int, list[str]]]:
    """What the full Marquez contract (spec, facet schemas, Marquez's rules, per-run order) says
    about these events, in their order: the same checks the strict server makes."""
    from lineage.deliver.marquez.server import MarquezServer

    strict = MarquezServer()
    answers = [strict.receive(json.dumps(event).encode()) for event in events]
    return [(status, body.get("errors")) for status, body in answers if status != 201]


def pending_request(approver: AirflowApi, dag_id: str, dag_run_id: str, task_id: str, timeout: float = 300.0) -> dict[str, Any]:
    """The approval request a task of this DAG run asked for, found as an approver finds it: the
    run's Governance tab (the plugin's ledger API), then the pending list."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approver.deployment.check_alive()
        records = approver.get("/lineage-governance/api/ledger", dag_id=dag_id, dag_run_id=dag_run_id, task_id=task_id)
        requested = [r for r in records if r.get("kind") == "approval_requested"]
        if requested:
            request_id = requested[0]["payload"]["request"]["id"]
            pending = {r["id"]: r for r in approver.get("/lineage-governance/api/approvals", status="pending")}
            if request_id in pending:
                return pending[request_id]
        time.sleep(1)
    raise AssertionError(f"no approval request from {dag_id}.{task_id} in run {dag_run_id} within {timeout:.0f} s\n{approver.deployment.describe()}")
