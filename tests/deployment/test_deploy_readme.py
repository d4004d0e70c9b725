"""The README's Deploy section is what the deployment tests configure: the same settings, no more,
no fewer (tests/deployment configures the plugin only through plugin_environment and
worker_environment)."""

from __future__ import annotations

import re
from pathlib import Path

from testkit.airflow_deployment import plugin_environment, worker_environment

README = Path(__file__).resolve().parents[2] / "README.md"


def deploy_section() -> str:
    text = README.read_text()
    start = text.index("\n## Deploy\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def exported(block: str) -> list[str]:
    return re.findall(r"^export (AIRFLOW__[A-Z_]+)=", block, flags=re.M)


def test_the_deploy_section_names_exactly_the_settings_the_tests_use():
    blocks = re.findall(r"```bash\n(.*?)```", deploy_section(), flags=re.S)
    assert len(blocks) == 2, "the Deploy section: one block for every process, one per worker machine"
    every_process, per_worker = (exported(block) for block in blocks)
    configured = plugin_environment("/etc/lineage/policy.yaml", "prod", "postgresql://db/lineage", "http://marquez:5000", approval_poll_interval=60)
    assert sorted(every_process) == sorted(configured)
    assert per_worker == list(worker_environment("/var/lib/lineage/events-spool.db"))
