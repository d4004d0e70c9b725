"""A real Airflow 3 deployment on this machine, as users run one: for the deployment tests and the benchmark.

    deployment = AirflowDeployment(root, metadata_url="postgresql+psycopg2://...", dags=[...],
                                   shared_env=plugin_environment(...), executor="CeleryExecutor",
                                   api_server_env=api_server_environment(ui_key),
                                   broker_url=redis.url, workers=2)
    deployment.start()      # airflow db migrate; api-server, scheduler, dag-processor, triggerer
                            # (+ one `airflow celery worker` per worker), each its own process
    api = deployment.api("admin")          # Airflow's REST API with a JWT from the auth manager
    run_id = api.trigger("governed_pipeline")
    api.wait_for_run("governed_pipeline", run_id)
    deployment.stop()       # every process and everything it started: SIGTERM, then SIGKILL

Nothing runs in the caller's process: every component is the ``airflow`` command of this
environment with its own environment variables, so the plugin is loaded the way Airflow loads
it (entry point) and configured the way the README's "Deploy" section says
(``plugin_environment`` for every process, ``api_server_environment`` for the API server only,
``worker_environment`` per worker machine). With LocalExecutor the scheduler is the worker (tasks
are its children). Each process logs to
``<root>/logs/<name>.log``; ``describe()`` returns their tails and the task logs for an
assertion message. Users come from SimpleAuthManager's users and passwords file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from testkit.postgres import free_port

FACETS_FUNCTION = "airflow_plugin.facets.run_facets"
FINISHED_RUN = ("success", "failed")
# variables of the caller that must not leak into the deployment (it has its own configuration)
FOREIGN_PREFIXES = ("AIRFLOW", "LINEAGE_", "OPENLINEAGE", "_AIRFLOW")


class DeploymentError(RuntimeError):
    """A component did not start, died, or a wait ran out; the message carries the logs."""


def plugin_environment(
    policy_file: str | os.PathLike,
    environment: str,
    ledger_url: str,
    lineage_url: str,
    approvals_url: str | None = None,
    namespace: str = "default",
    approval_poll_interval: float | None = None,
    enabled: bool = True,
) -> dict[str, str]:
    """The plugin's settings for every Airflow process (workers, scheduler, API server, DAG processor,
    triggerer), as the README's "Deploy" section gives them: one policy, one ledger and approvals
    store on PostgreSQL for all workers, the OpenLineage provider's transport (which the plugin's
    spool also uses) and our facets on the provider's task events."""
    env = {
        "AIRFLOW__LINEAGE_GOVERNANCE__ENABLED": str(bool(enabled)),
        "AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE": str(policy_file),
        "AIRFLOW__LINEAGE_GOVERNANCE__ENVIRONMENT": environment,
        "AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL": ledger_url,
        "AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL": approvals_url or ledger_url,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "http", "url": lineage_url}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": namespace,
        "AIRFLOW__OPENLINEAGE__CUSTOM_RUN_FACETS": FACETS_FUNCTION,
    }
    if approval_poll_interval is not None:
        env["AIRFLOW__LINEAGE_GOVERNANCE__APPROVAL_POLL_INTERVAL"] = str(approval_poll_interval)
    return env


def api_server_environment(signing_key: str | os.PathLike) -> dict[str, str]:
    """The API server only: the UI's private key, which signs approval decisions for the logged-in
    user (its public key is in the policy's ``approvals.server_keys``). Never a worker's or the
    scheduler's: they run pipeline code, which could forge approvals with it."""
    return {"AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_SIGNING_KEY": str(signing_key)}


def worker_environment(spool: str | os.PathLike) -> dict[str, str]:
    """Per worker machine: the event spool on that machine's local disk (one sender per file)."""
    return {"AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_SPOOL": str(spool)}


@dataclass
class User:
    name: str
    role: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))


@dataclass
class Component:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    killed: bool = False  # killed on purpose (``kill``): not a failure until it is started again

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tree(self) -> list[Any]:
        """The process and every process it started (task supervisors and task runners included)."""
        import psutil

        if self.process is None:
            return []
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@dataclass
class AirflowDeployment:
    root: Path
    metadata_url: str
    dags: Iterable[Path] = ()
    shared_env: Mapping[str, str] = field(default_factory=dict)
    executor: str = "LocalExecutor"
    broker_url: str | None = None
    workers: int = 0
    worker_concurrency: int = 4
    parallelism: int = 16
    users: tuple[User, ...] = (User("admin", "admin"),)
    heartbeat_timeout: int = 90
    migrate: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)
    api_server_env: Mapping[str, str] = field(default_factory=dict)  # the API server's alone (api_server_environment)
    components: dict[str, Component] = field(default_factory=dict)
    api_port: int = 0

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if self.executor == "CeleryExecutor" and (not self.broker_url or self.workers < 1):
            raise ValueError("CeleryExecutor needs a broker_url and at least one worker")

    # -- layout ------------------------------------------------------------------------------

    @property
    def dags_folder(self) -> Path:
        return self.root / "dags"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def worker_names(self) -> list[str]:
        """The processes that run tasks: the Celery workers, or the scheduler (LocalExecutor)."""
        if self.executor == "CeleryExecutor":
            return [f"worker-{n}" for n in range(1, self.workers + 1)]
        return ["scheduler"]

    def machine_dir(self, name: str) -> Path:
        """A stand-in for the local disk of the machine that runs ``name``."""
        path = self.root / "machines" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def spool(self, name: str) -> Path:
        return self.machine_dir(name) / "events-spool.db"

    def user(self, name: str) -> User:
        return next(user for user in self.users if user.name == name)

    # -- environment ---------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN_PREFIXES)}
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.update(
            {
                "AIRFLOW_HOME": str(self.root),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(self.parallelism, 32)),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user.name}:{user.role}" for user in self.users),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.root / "passwords.json"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__SECRET_KEY": self._secret("api"),
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_dir / "tasks"),
                "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(self.log_dir / "dag-processor"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._port("worker-logs")),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._port("trigger-logs")),
                # a worker that vanished (kill -9) is noticed after this many seconds without a heartbeat
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            }
        )
        if self.executor == "CeleryExecutor":
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": str(self.broker_url),
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url.replace("+psycopg2", "").replace("+psycopg", ""),
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                }
            )
        env.update(self.shared_env)
        env.update(self.extra_env)
        return env

    def _secret(self, name: str) -> str:
        path = self.root / f".{name}-secret"
        if not path.exists():
            if name == "fernet":
                from cryptography.fernet import Fernet

                path.write_text(Fernet.generate_key().decode())
            else:
                path.write_text(secrets.token_urlsafe(32))
        return path.read_text()

    def _port(self, name: str) -> int:
        path = self.root / f".{name}-port"
        if not path.exists():
            path.write_text(str(free_port()))
        return int(path.read_text())

    # -- lifecycle -----------------------------------------------------------------------------

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.dags_folder.mkdir(exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        for path in self.dags:
            path = Path(path)
            if path.is_dir():
                shutil.copytree(path, self.dags_folder / path.name, dirs_exist_ok=True)
            else:
                shutil.copy(path, self.dags_folder / path.name)
        (self.root / "passwords.json").write_text(json.dumps({user.name: user.password for user in self.users}))
        self.api_port = self.api_port or free_port()
        airflow = str(Path(sys.executable).with_name("airflow"))
        base = self.base_env()
        self.components = {
            "api-server": Component("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"], {**base, **self.api_server_env}, self.log_dir / "api-server.log"),
            "scheduler": Component("scheduler", [airflow, "scheduler"], self._worker_env(base, "scheduler") if self.executor != "CeleryExecutor" else base, self.log_dir / "scheduler.log"),
            "dag-processor": Component("dag-processor", [airflow, "dag-processor"], base, self.log_dir / "dag-processor.log"),
            "triggerer": Component("triggerer", [airflow, "triggerer"], base, self.log_dir / "triggerer.log"),
        }
        if self.executor == "CeleryExecutor":
            for name in self.worker_names:
                env = self._worker_env(base, name)
                env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(self._port(f"{name}-logs"))
                command = [airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(self.worker_concurrency), "--without-gossip", "--without-mingle"]
                self.components[name] = Component(name, command, env, self.log_dir / f"{name}.log")

    def _worker_env(self, base: Mapping[str, str], name: str) -> dict[str, str]:
        return {**base, **worker_environment(self.spool(name))}

    def start(self, timeout: float = 420.0) -> "AirflowDeployment":
        self.prepare()
        deadline = time.monotonic() + timeout
        try:
            if self.migrate:
                self.run_cli(["db", "migrate"], timeout=max(60.0, deadline - time.monotonic()))
            for component in self.components.values():
                self._launch(component)
            self.wait_until_healthy(deadline - time.monotonic())
        except BaseException:
            self.stop()
            raise
        return self

    def run_cli(self, args: list[str], timeout: float = 300.0) -> subprocess.CompletedProcess:
        """``airflow <args>`` with the deployment's configuration (fails with its output)."""
        command = [str(Path(sys.executable).with_name("airflow")), *args]
        result = subprocess.run(command, env=self.base_env(), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise DeploymentError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result

    def _launch(self, component: Component) -> None:
        component.killed = False
        handle = open(component.log, "ab")
        try:
            component.process = subprocess.Popen(component.command, env=component.env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root)
        finally:
            handle.close()

    def wait_until_healthy(self, timeout: float) -> None:
        """The API server answers, and reports the scheduler, triggerer and DAG processor healthy;
        each Celery worker said it is ready."""
        import httpx

        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                response = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=10)
                last = response.text
                if response.status_code == 200:
                    health = response.json()
                    wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                    if all((health.get(key) or {}).get("status") == "healthy" for key in wanted):
                        break
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(1)
        else:
            raise DeploymentError(f"the deployment did not become healthy within {timeout:.0f} s (last answer: {last})\n{self.describe()}")
        for name in self.worker_names:
            if name != "scheduler":
                self.wait_for_log(name, " ready.", deadline - time.monotonic())

    def wait_for_log(self, name: str, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        log = self.components[name].log
        while time.monotonic() < deadline:
            self.check_alive()
            if log.exists() and text in log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise DeploymentError(f"{name} did not log {text!r} within {timeout:.0f} s\n{self.describe()}")

    def check_alive(self, names: Iterable[str] | None = None) -> None:
        for name in names or self.components:
            component = self.components[name]
            if not component.killed and component.process is not None and component.process.poll() is not None:
                raise DeploymentError(f"{name} exited with {component.process.returncode}\n{self.describe()}")

    def kill(self, name: str) -> list[int]:
        """SIGKILL a component and every process under it at once (a worker machine that died);
        returns the pids killed."""
        component = self.components[name]
        component.killed = True
        tree = component.tree()
        for process in tree:
            try:
                process.send_signal(signal.SIGKILL)
            except Exception:
                pass
        if component.process is not None:
            component.process.wait(30)
        return [process.pid for process in tree]

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Stop a component (if it runs) and start it again, with ``env`` added to its environment."""
        component = self.components[name]
        if component.alive:
            self._terminate(component)
        component.env = {**component.env, **(env or {})}
        self._launch(component)
        if name.startswith("worker-"):
            size = component.log.stat().st_size if component.log.exists() else 0
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                self.check_alive([name])
                with open(component.log, "rb") as handle:
                    handle.seek(size)
                    if b" ready." in handle.read():
                        return
                time.sleep(0.5)
            raise DeploymentError(f"{name} did not become ready again\n{self.describe()}")

    def stop(self, grace: float = 20.0) -> None:
        """Every component and all it started: SIGTERM, then SIGKILL what is left after ``grace`` s."""
        order = [*[n for n in self.components if n.startswith("worker-")], "scheduler", "triggerer", "dag-processor", "api-server"]
        for name in order:
            component = self.components.get(name)
            if component is not None:
                self._terminate(component, grace)

    def _terminate(self, component: Component, grace: float = 20.0) -> None:
        import psutil

        tree = component.tree()
        if component.alive:
            component.process.send_signal(signal.SIGTERM)
            try:
                component.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        for process in [*tree, *component.tree()]:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        if component.process is not None:
            try:
                component.process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                pass
        psutil.wait_procs(tree, timeout=10)

    def __enter__(self) -> "AirflowDeployment":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what happened -------------------------------------------------------------------------

    def describe(self, lines: int = 60) -> str:
        """The tail of every component's log and of the task logs (for an assertion message)."""
        parts = [f"deployment at {self.root} ({self.executor}), API {self.api_url}"]
        for component in self.components.values():
            state = "running" if component.alive else f"exited {component.process.returncode}" if component.process else "not started"
            parts.append(f"--- {component.name} ({state}): {component.log}\n{_tail(component.log, lines)}")
        task_logs = sorted((self.log_dir / "tasks").rglob("*.log"), key=lambda p: p.stat().st_mtime)[-6:] if (self.log_dir / "tasks").exists() else []
        for path in task_logs:
            parts.append(f"--- task log {path.relative_to(self.log_dir)}\n{_tail(path, lines // 2)}")
        return "\n".join(parts)

    def api(self, user: str = "admin") -> "AirflowApi":
        return AirflowApi(self, self.user(user))


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


class AirflowApi:
    """Airflow's public REST API (and the plugin's routes) as one logged-in user: a JWT from the
    auth manager's token endpoint (``POST /auth/token``), sent as a bearer token."""

    def __init__(self, deployment: AirflowDeployment, user: User):
        import httpx

        self.deployment = deployment
        self.user = user
        response = httpx.post(f"{deployment.api_url}/auth/token", json={"username": user.name, "password": user.password}, timeout=60)
        if response.status_code not in (200, 201):
            raise DeploymentError(f"login as {user.name} failed: {response.status_code} {response.text[:500]}")
        self.token = response.json()["access_token"]
        self.client = httpx.Client(base_url=deployment.api_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params or None)
        if response.status_code != 200:
            raise DeploymentError(f"GET {path}: {response.status_code} {response.text[:1000]}")
        return response.json()

    def post(self, path: str, body: Any = None):
        return self.client.post(path, json=body if body is not None else {})

    # -- DAGs and runs ---------------------------------------------------------------------------

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 300.0) -> None:
        """Until the DAG processor has parsed every DAG (import errors fail at once)."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.deployment.check_alive()
            errors = self.get("/api/v2/importErrors").get("import_errors", [])
            if errors:
                raise DeploymentError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
            known = {dag["dag_id"] for dag in self.get("/api/v2/dags", limit=100).get("dags", [])}
            if wanted <= known:
                return
            time.sleep(2)
        raise DeploymentError(f"DAGs {sorted(wanted - known)} not parsed within {timeout:.0f} s\n{self.deployment.describe()}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        response = self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        if response.status_code != 200:
            raise DeploymentError(f"trigger {dag_id}: {response.status_code} {response.text[:1000]}")
        return response.json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {task_id: ti["state"] for task_id, ti in self.task_instances(dag_id, run_id).items()}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        """Poll until the DAG run finished; returns its state (success or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.deployment.check_alive()
            state = self.dag_run(dag_id, run_id)["state"]
            if state in FINISHED_RUN:
                return state
            time.sleep(1)
        raise DeploymentError(f"{dag_id} run {run_id} did not finish within {timeout:.0f} s: {self.states(dag_id, run_id)}\n{self.deployment.describe()}")

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 300.0) -> dict[str, Any]:
        wanted = set(states)
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            self.deployment.check_alive()
            seen = self.task_instances(dag_id, run_id).get(task_id)
            if seen is not None and seen["state"] in wanted:
                return seen
            time.sleep(0.5)
        raise DeploymentError(f"{dag_id}.{task_id} in run {run_id} never reached {sorted(wanted)} within {timeout:.0f} s (last: {seen and seen['state']})\n{self.deployment.describe()}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task try's log as the UI shows it: one line per entry, with its fields (an error's
        exception and message are in ``error_detail``)."""
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}", full_content="true")
        content = body.get("content")
        if isinstance(content, list):
            return "\n".join(json.dumps(item) if isinstance(item, dict) else str(item) for item in content)
        return str(content)
