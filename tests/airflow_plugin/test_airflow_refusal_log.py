"""A blocked statement in the task log of a real `airflow dags test` run (the CLI, in a
subprocess, as a user runs it): the first thing the user reads is the rule, the statement and
what to do, before Airflow's traceback, which no longer walks through the plugin's internals."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from airflow_support import seed

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

def refusal_and_traceback(log: str) -> tuple[str, str]:
    start = log.index("lineage-governance BLOCKED")
    traceback = log.index("Traceback (most recent call last)", start)
    return log[start:traceback], log[traceback:log.index("AirflowFailException: blocked", traceback)]


@pytest.mark.parametrize("dag_id,task,statement", [
    # SQLExecuteQueryOperator: refused at task start, the second statement of its SQL
    ("lg_block", "lg_block.drop_orders", "drop table raw.orders  (statement 2 of the SQL sent)"),
    # a hook in a @task: refused at the hook, after its first call ran
    ("lg_hook_block", "lg_hook_block.drop_with_a_hook", "drop table raw.orders  (statement 1 of the SQL sent)"),
])
@pytest.mark.timeout(300)
def test_the_rule_the_statement_and_what_to_do_come_first(airflow_home, dag_id, task, statement):
    seed(airflow_home.warehouse)
    result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", dag_id], env={**os.environ, **airflow_home.env},
                            capture_output=True, text=True, timeout=240)
    assert result.returncode != 0  # the DAG run failed
    log = result.stdout + result.stderr
    assert log.index("lineage-governance BLOCKED") < log.index("Traceback (most recent call last)")
    message, traceback = refusal_and_traceback(log)
    lines = message.splitlines()
    assert lines[0].endswith(f"lineage-governance BLOCKED a statement of task {task} (environment prod); it did not run")
    assert re.search(r"^\s+rule:\s+drop_table \(block\): drops table warehouse\.raw\.orders", message, re.M)
    assert re.search(rf"^\s+statement:\s+{re.escape(statement)}$", message, re.M)
    assert re.search(r"^\s+what to do:\s+change the statement, or ask the policy's owners to allow it: drop_table in \S+airflow_policy\.yaml \(version sha256:", message, re.M)
    frames = re.findall(r'File "([^"]+)", line \d+', traceback)
    assert not [frame for frame in frames if frame.endswith(("airflow_plugin/runtime.py", "lineage/governor.py", "lineage/decide/engine.py"))], traceback
    assert sum(1 for frame in frames if "/airflow_plugin/" in frame) == 1  # only the frame that re-raises it
