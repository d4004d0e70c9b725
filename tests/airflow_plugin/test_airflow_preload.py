"""The scheduler loads the governance core once (listener ``on_starting``), so the task processes
its LocalExecutor forks inherit it instead of importing and parsing it again each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from airflow_plugin import listener
listener.on_starting(component=type("Job", (), {"job_type": sys.argv[1]})())
loaded = [name for name in ("lineage.decide.engine", "lineage.record.postgres", "lineage.deliver.spool", "airflow_plugin.intercept") if name in sys.modules]
runtime = sys.modules.get("airflow_plugin.runtime")
print(json.dumps({"loaded": loaded, "policy_cached": runtime is not None and runtime._runtime is not None}))
"""


def probe(tmp_path, job_type: str, **settings: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "LINEAGE_"))}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE": str(ROOT / "dags_examples" / "policy.yaml")})
    env.update({f"AIRFLOW__LINEAGE_GOVERNANCE__{key.upper()}": value for key, value in settings.items()})
    result = subprocess.run([sys.executable, "-c", PROBE, job_type], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_scheduler_loads_the_core_and_the_policy_once(tmp_path):
    assert probe(tmp_path, "SchedulerJob") == {
        "loaded": ["lineage.decide.engine", "lineage.record.postgres", "lineage.deliver.spool", "airflow_plugin.intercept"],
        "policy_cached": True,
    }


def test_other_components_and_a_disabled_plugin_load_nothing(tmp_path):
    assert probe(tmp_path, "TriggererJob") == {"loaded": [], "policy_cached": False}
    assert probe(tmp_path, "SchedulerJob", enabled="False") == {"loaded": [], "policy_cached": False}
