"""The README's Deploy section is what the deployment tests configure: the same settings, no more,
no fewer (tests/deployment configures the plugin only through plugin_environment,
api_server_environment and worker_environment)."""

from __future__ import annotations

import re
from pathlib import Path

from testkit.airflow_deployment import api_server_environment, plugin_environment, worker_environment

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
    assert len(blocks) == 3, "the Deploy section: one block for every process, one for the API server, one per worker machine"
    every_process, api_server, per_worker = (exported(block) for block in blocks)
    configured = plugin_environment("/etc/lineage/policy.yaml", "prod", "postgresql://db/lineage", "http://marquez:5000", approval_poll_interval=60)
    assert sorted(every_process) == sorted(configured)
    assert api_server == list(api_server_environment("/etc/lineage/ui.key"))
    assert per_worker == list(worker_environment("/var/lib/lineage/events-spool.db"))


def test_the_ui_signing_key_is_the_api_servers_alone():
    """Workers run pipeline code: a signing key in their settings would let a pipeline approve itself."""
    signing_key = set(api_server_environment("/etc/lineage/ui.key"))
    assert signing_key == {"AIRFLOW__LINEAGE_GOVERNANCE__APPROVALS_SIGNING_KEY"}
    everyone = plugin_environment("/etc/lineage/policy.yaml", "prod", "postgresql://db/lineage", "http://marquez:5000", approval_poll_interval=60)
    assert not signing_key & (set(everyone) | set(worker_environment("/var/lib/lineage/events-spool.db")))
    row = next(line for line in deploy_section().splitlines() if line.startswith("| API server |"))
    assert "signs" in row and "no other process" in row
