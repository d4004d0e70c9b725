"""``lineage dbt`` keeps the analysis out of dbt's process: the judging happens in the governance
sidecar, so the process that runs dbt imports no SQL analysis, no policy model and no lineage
client of its own (on one core every import there adds to dbt's time; the figures are bench/'s,
here the modules of a real governed build, which do not depend on the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from testkit.dbt_project import example_project, project_env

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "dags_examples" / "dbt_project" / "policy.yaml"

BUILD = r"""
import json, sys
from lineage.adapters.dbt.runner import Options, run_dbt
outcome = run_dbt(["build", "--quiet"], Options(policy=sys.argv[1]))
print(json.dumps({"exit_code": outcome.exit_code, "message": outcome.message, "nodes": len(outcome.node_runs),
                  "modules": sorted({name.split(".")[0] for name in sys.modules} | {name for name in sys.modules if name.startswith("lineage")})}))
"""


def test_a_governed_build_imports_no_analysis_into_dbts_process(tmp_path):
    project = example_project(tmp_path / "shop")
    env = project_env(project, duckdb=tmp_path / "shop.duckdb", LINEAGE_LEDGER_URL=str(tmp_path / "ledger.db"),
                      LINEAGE_APPROVALS_URL=f"sqlite:///{tmp_path / 'approvals.db'}", LINEAGE_EVENTS_FILE=str(tmp_path / "events.jsonl"),
                      LINEAGE_PRINCIPAL="svc:dbt-imports")
    result = subprocess.run([sys.executable, "-c", BUILD, str(POLICY)], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["exit_code"] == 0, outcome["message"]
    assert outcome["nodes"] >= 13  # it did run, governed: every node has its OpenLineage run
    modules = set(outcome["modules"])
    assert {"dbt", "lineage.adapters.dbt.runner"} <= modules
    heavy = {"sqlglot", "openlineage", "httpx", "cryptography", "sqlite3"}
    assert not modules & heavy, sorted(modules & heavy)
    analysis = {name for name in modules if name.startswith(("lineage.decide.", "lineage.policy", "lineage.mask", "lineage.record", "lineage.deliver"))}
    assert not analysis - {"lineage.decide.names"}, sorted(analysis)
