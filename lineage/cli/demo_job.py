"""The main job: the example pipelines on DuckDB with policies enforced, end to end, no servers.

    lineage demo [--out demo-output]

1. Airflow (``airflow dags test`` in a fresh AIRFLOW_HOME, SQLite metadata): the example pipeline
   (PII masked into the mart, a hook in a @task, a DROP COLUMN held until the demo approver in
   data-owners approves it) and a DROP TABLE that the policy blocks in prod.
2. dbt (``lineage dbt build``): the example project, pre-flight checked, masked marts.
3. Evidence: the marts checked with Great Expectations (``verify-masking``), the ledger verified,
   every OpenLineage event validated, an HTML report.

Events go to ``<out>/events.jsonl``, and also to Marquez (through the spool) when
``OPENLINEAGE_URL`` is set. Airflow and dbt run as subprocesses, so this module imports neither.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

DEMO_APPROVER = "demo-approver"


def examples_path() -> Path:
    """The example DAGs, policy, SQL and dbt project: ``lineage/examples`` in an installed wheel,
    else the repository's ``dags_examples``."""
    here = Path(__file__).resolve().parents[1]  # the lineage package
    for candidate in (here / "examples", here.parent / "dags_examples"):
        if (candidate / "governed_pipeline.py").is_file():
            return candidate
    raise FileNotFoundError(f"the example pipelines are neither in {here / 'examples'} nor in {here.parent / 'dags_examples'}")


EXAMPLES = examples_path()


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Demo:
    out: Path
    quiet: bool = False
    steps: list[Step] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)

    # -- paths ------------------------------------------------------------------------------

    @property
    def ledger_url(self) -> str:
        return str(self.out / "ledger.db")

    @property
    def approvals_url(self) -> str:
        return f"sqlite:///{self.out / 'approvals.db'}"

    @property
    def policy_file(self) -> Path:
        """The example policy, trusting the key the demo's approver signs with (made for each demo)."""
        path = self.out / "policy.yaml"
        if not path.exists():
            from lineage.approve.approver_keys import ApproverKeys

            ApproverKeys(self.out / "keys").policy(EXAMPLES / "policy.yaml", path, approvers=[DEMO_APPROVER])
        return path

    @property
    def events_file(self) -> Path:
        return self.out / "events.jsonl"

    @property
    def airflow_warehouse(self) -> Path:
        return self.out / "airflow_warehouse.duckdb"

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    # -- environment ---------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "LINEAGE_"))}
        env.update(
            {
                "LINEAGE_LEDGER_URL": self.ledger_url,
                "LINEAGE_APPROVALS_URL": self.approvals_url,
                "LINEAGE_EVENTS_FILE": str(self.events_file),
                "LINEAGE_EVENTS_SPOOL": str(self.out / "events-spool.db"),
                "LINEAGE_ENV": "prod",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def airflow_env(self) -> dict[str, str]:
        """A fresh AIRFLOW_HOME (SQLite metadata, the example DAGs), the plugin configured through
        ``[lineage_governance]``, the OpenLineage provider with our facets."""
        home = self.out / "airflow"
        dags = home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        for name in ("governed_pipeline.py", "blocked_drop.py"):
            shutil.copy(EXAMPLES / name, dags / name)
        shutil.copytree(EXAMPLES / "sql", dags / "sql", dirs_exist_ok=True)
        env = self.base_env()
        env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE": str(self.policy_file),
            "AIRFLOW__LINEAGE_GOVERNANCE__ENVIRONMENT": "prod",
            "AIRFLOW__LINEAGE_GOVERNANCE__LEDGER_URL": self.ledger_url,
            "AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_URL": self.approvals_url,
            "AIRFLOW__LINEAGE_GOVERNANCE__APPROVAL_POLL_INTERVAL": "1",
            # the demo writes its own events file; the spool only runs when a backend (Marquez) is configured
            "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_FILE": str(self.events_file),
            "AIRFLOW__LINEAGE_GOVERNANCE__EVENTS_SPOOL": str(self.out / "events-spool.db"),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "airflow-demo",
            "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
            "AIRFLOW__OPENLINEAGE__CUSTOM_RUN_FACETS": "airflow_plugin.facets.run_facets",
            "AIRFLOW_CONN_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(self.airflow_warehouse)}),
        })
        if not os.environ.get("OPENLINEAGE_URL"):  # else the provider posts to OPENLINEAGE_URL itself
            env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps({"type": "file", "log_file_path": str(self.out / "airflow-openlineage.jsonl"), "append": True})
        return env

    # -- running things ---------------------------------------------------------------------------

    def run(self, name: str, command: list[str], env: dict[str, str], expect_success: bool = True, log_name: str | None = None) -> subprocess.CompletedProcess:
        log = self.out / "logs" / f"{log_name or name.split()[0]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"  ... {name}")
        started = time.monotonic()
        with log.open("w") as handle:
            result = subprocess.run(command, env=env, cwd=self.out, stdout=handle, stderr=subprocess.STDOUT, text=True)
        elapsed = time.monotonic() - started
        ok = (result.returncode == 0) == expect_success
        self.steps.append(Step(name, ok, elapsed, f"exit {result.returncode}, log {log.relative_to(self.out)}"))
        mark = "ok" if ok else "UNEXPECTED"
        self.say(f"  {mark:>3} {name} ({elapsed:.1f}s; log: {log.relative_to(self.out)})")
        return result

    def check(self, name: str, function: Callable[[], tuple[bool, str]]) -> bool:
        started = time.monotonic()
        try:
            ok, detail = function()
        except Exception as error:  # a demo step failing says why, and the demo goes on
            ok, detail = False, f"{type(error).__name__}: {error}"
        self.steps.append(Step(name, ok, time.monotonic() - started, detail))
        self.say(f"  {'ok' if ok else 'FAILED':>3} {name}: {detail}")
        return ok

    def auto_approver(self, stop: threading.Event) -> threading.Thread:
        """The demo's approver (group data-owners in the example policy) approves what is asked."""
        from lineage.approve.verify import signer_for
        from lineage.approve.approvals import PENDING, Approvals, ApprovalStore
        from lineage.record import open_ledger
        from lineage.policy import load_policy
        from lineage.approve.approver_keys import ApproverKeys

        def loop() -> None:
            policy = load_policy(self.policy_file)
            store = ApprovalStore(self.approvals_url)
            approvals = Approvals(policy, store, ledger=open_ledger(self.ledger_url))
            approver = signer_for(policy.policy.approvals, ApproverKeys(self.out / "keys").key(DEMO_APPROVER))
            while not stop.is_set():
                for request in store.list(PENDING):
                    reasons = ", ".join(reason["rule"] for reason in request.reasons)
                    self.say(f"      approval requested by {request.requester} for {request.job_name} ({reasons}): {request.shown_statement[:80]}")
                    approvals.approve(request.id, approver, note="approved by the demo's approver")
                    self.approved.append(request.id)
                    self.say(f"      -> approved by {DEMO_APPROVER} ({request.id}, signed with key {approver.key_id})")
                stop.wait(0.3)

        thread = threading.Thread(target=loop, name="demo-approver", daemon=True)
        thread.start()
        return thread

    # -- the steps --------------------------------------------------------------------------------

    def airflow(self) -> None:
        self.say("\n[1/3] Airflow: the example DAGs, governed by the plugin (environment prod)")
        env = self.airflow_env()
        airflow = str(Path(sys.executable).parent / "airflow")
        self.run("airflow db migrate", [airflow, "db", "migrate"], env, log_name="airflow-db")
        stop = threading.Event()
        approver = self.auto_approver(stop)
        try:
            self.run("airflow dags test governed_pipeline", [airflow, "dags", "test", "governed_pipeline"], env, log_name="airflow-governed_pipeline")
        finally:
            stop.set()
            approver.join(5)
        result = self.run("airflow dags test blocked_drop (expected to fail: DROP TABLE in prod)", [airflow, "dags", "test", "blocked_drop"], env, expect_success=False, log_name="airflow-blocked_drop")
        self.check("the blocked DROP TABLE did not run", lambda: self._table_survived(result))

    def _table_survived(self, result) -> tuple[bool, str]:
        import duckdb

        with duckdb.connect(str(self.airflow_warehouse), read_only=True) as connection:
            count = connection.execute("select count(*) from raw.orders").fetchone()[0]
        refusal = self._last_refusal("drop_table")
        return count > 0 and refusal is not None, f"raw.orders still has {count} rows; {refusal}"

    def _last_refusal(self, rule: str) -> str | None:
        from lineage.record import open_ledger

        for entry in reversed(list(open_ledger(self.ledger_url).entries())):
            body = entry.body
            if body.get("phase") == "refused":
                for finding in body["decision"]["findings"]:
                    if finding["rule"] == rule:
                        return f"refused: {finding['rule']}: {finding['message']}"
        return None

    def dbt(self) -> None:
        self.say("\n[2/3] dbt: the example project through `lineage dbt build` (pre-flight, masked marts)")
        project = EXAMPLES / "dbt_project"
        if not project.exists():
            self.steps.append(Step("dbt example project", False, 0.0, f"{project} is missing"))
            self.say(f"  FAILED: {project} is missing")
            return
        work = self.out / "dbt_project"
        shutil.copytree(project, work, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal"))
        env = self.base_env()
        env["LINEAGE_PRINCIPAL"] = "svc:dbt-demo"
        env["DBT_PROFILES_DIR"] = str(work)
        lineage = str(Path(sys.executable).parent / "lineage")
        self.run("lineage dbt deps", [lineage, "dbt", "deps", "--project-dir", str(work)], env, log_name="dbt-deps")
        self.run("lineage dbt build", [lineage, "dbt", "--policy", str(work / "policy.yaml"), "build", "--project-dir", str(work)], env, log_name="dbt-build")

    def evidence(self) -> None:
        self.say("\n[3/3] Evidence: masking checked on the data, ledger, events, report")
        from lineage.deliver.validate import validate_lines
        from lineage.record import open_ledger

        if importlib.util.find_spec("great_expectations") is None:
            self.say("  skip verify-masking: needs Great Expectations (pip install 'lineage-governance[gx]')")
        else:
            for warehouse in self.warehouses():
                self.check(f"verify-masking {warehouse.name} (Great Expectations)", lambda warehouse=warehouse: self._verify_masking(warehouse))
        # after verify-masking, whose results are ledger records too
        ledger = open_ledger(self.ledger_url)
        self.check("ledger verifies", lambda: self._verify(ledger))

        def events() -> tuple[bool, str]:
            lines = self.events_file.read_text().splitlines() if self.events_file.exists() else []
            problems = validate_lines(lines)
            return (bool(lines) and not problems), f"{len(lines)} event(s) in {self.events_file.name}, " + (f"{len(problems)} invalid: {problems[:2]}" if problems else "all valid (OpenLineage spec, our facet schemas, Marquez rules)")

        self.check("OpenLineage events validate", events)
        if os.environ.get("OPENLINEAGE_URL"):
            self.check(f"events delivered to {os.environ['OPENLINEAGE_URL']}", self._deliver)
        self.check("HTML report", self._report)

    def _deliver(self) -> tuple[bool, str]:
        """Send what the spool still holds (the Airflow and dbt processes have ended) and report."""
        lineage = str(Path(sys.executable).parent / "lineage")
        spool = str(self.out / "events-spool.db")
        env = {**self.base_env(), "OPENLINEAGE_URL": os.environ["OPENLINEAGE_URL"]}
        flushed = subprocess.run([lineage, "events", "flush", "--spool", spool, "--format", "json", "--timeout", "60"], env=env, capture_output=True, text=True)
        status = subprocess.run([lineage, "events", "status", "--spool", spool, "--format", "json"], env=env, capture_output=True, text=True)
        try:
            state = json.loads(status.stdout)
        except json.JSONDecodeError:
            return False, f"cannot read the spool's status: {status.stderr.strip()[:200]}"
        pending = state.get("pending", state.get("queued", 0))
        return flushed.returncode == 0 and not pending, f"spool: {json.dumps(state)[:200]}"

    def warehouses(self) -> list[Path]:
        found = [self.airflow_warehouse] if self.airflow_warehouse.exists() else []
        found += sorted((self.out / "dbt_project").glob("*.duckdb")) if (self.out / "dbt_project").exists() else []
        return found

    def _verify(self, ledger) -> tuple[bool, str]:
        verification = ledger.verify()
        if not verification.ok:
            return False, f"BROKEN at record {verification.broken_seq}: {verification.problem}"
        return True, f"{verification.records} record(s), head {verification.head_seq} {verification.head_hash[:16]}..."

    def _verify_masking(self, warehouse: Path) -> tuple[bool, str]:
        from lineage.cli.verify import verify
        from lineage.deliver.emit import emitter_from_environment
        from lineage.deliver.naming import duckdb_namespace
        from lineage.identity.run_identity import RunIdentity
        from lineage.record import open_ledger
        from lineage.policy import load_policy
        from lineage.evidence.verify_masking import record

        policy_file = EXAMPLES / "dbt_project" / "policy.yaml" if "dbt" in str(warehouse) and (EXAMPLES / "dbt_project" / "policy.yaml").exists() else EXAMPLES / "policy.yaml"
        policy = load_policy(policy_file)
        result, _ = verify(f"duckdb:///{warehouse}", policy, ledger=open_ledger(self.ledger_url))
        identity = RunIdentity(principal="svc:demo", environment="prod", source="cli", job_namespace="lineage-demo", job_name="verify_masking")
        emitter = emitter_from_environment(jsonl=self.events_file, spool=self.out / "events-spool.db" if os.environ.get("OPENLINEAGE_URL") else False)
        record(result, identity, open_ledger(self.ledger_url), emitter, duckdb_namespace(warehouse))
        emitter.close()
        raw = [f"{check.table}.{check.column}" for check in result.checks if not check.success]
        checked = ", ".join(sorted({f"{check.table.split('.', 1)[-1]}.{check.column}" for check in result.checks})) or "nothing classified outside its zones"
        return result.success and bool(result.checks), (f"raw values in {raw}" if raw else f"no raw PII in {checked}")

    def _report(self) -> tuple[bool, str]:
        from lineage.record import open_ledger
        from lineage.evidence.report import build_report

        html, runs = build_report(open_ledger(self.ledger_url), [self.events_file] if self.events_file.exists() else [])
        path = self.out / "report.html"
        path.write_text(html, encoding="utf-8")
        return True, f"{path} ({len(runs)} run(s))"

    # -- summary ------------------------------------------------------------------------------------

    def summary(self) -> bool:
        from collections import Counter

        from lineage.record import open_ledger

        ledger = open_ledger(self.ledger_url)
        statements = [entry.body for entry in ledger.entries() if entry.body.get("kind") == "statement" and entry.body.get("phase") in ("finished", "failed", "refused")]
        actions = Counter(body["decision"]["action"] for body in statements)
        head_seq, head_hash = ledger.head()
        events = len(self.events_file.read_text().splitlines()) if self.events_file.exists() else 0
        ok = all(step.ok for step in self.steps)
        self.say("\nSummary")
        self.say(f"  statements governed   {len(statements)}  (allow {actions['allow']}, warn {actions['warn']}, masked {actions['mask']}, "
                 f"held for approval {actions['require_approval']}, blocked {actions['block']})")
        self.say(f"  approved              {len(self.approved)} request(s) by {DEMO_APPROVER}")
        self.say(f"  events written        {events} ({self.events_file})" + ("; also sent to $OPENLINEAGE_URL through the spool" if os.environ.get("OPENLINEAGE_URL") else ""))
        self.say(f"  ledger head           record {head_seq}, {head_hash[:24]}...  ({self.ledger_url})")
        self.say(f"  report                {self.out / 'report.html'}")
        failed = [step for step in self.steps if not step.ok]
        if failed:
            self.say("\nNot as expected:")
            for step in failed:
                self.say(f"  - {step.name}: {step.detail}")
        self.say("\n" + ("Demo finished: everything as expected." if ok else "Demo finished with problems (see above)."))
        return ok


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="lineage demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-output", help="where everything goes (recreated; default: demo-output)")
    parser.add_argument("--skip-dbt", action="store_true", help="only the Airflow part")
    args = parser.parse_args(argv)
    return run_demo(Path(args.out), skip_dbt=args.skip_dbt)


def run_demo(out: Path, skip_dbt: bool = False, quiet: bool = False) -> int:
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    demo = Demo(out, quiet=quiet)
    started = time.monotonic()
    demo.say(f"lineage-governance demo: everything goes to {out}")
    demo.airflow()
    if not skip_dbt:
        demo.dbt()
    demo.evidence()
    ok = demo.summary()
    demo.say(f"({time.monotonic() - started:.0f}s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
