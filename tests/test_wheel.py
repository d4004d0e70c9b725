"""The README's new-user path from the built wheel, in a fresh virtualenv outside the checkout:
install with [airflow,dbt] (versions pinned by uv.lock), `lineage demo`, the plugin listed by
`airflow plugins`, the dbt package installed by `dbt deps`; the wheel and sdist carry the LICENSE."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.dbt, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent


def uv() -> str:
    found = shutil.which("uv") or (str(ROOT / ".tools" / "bin" / "uv") if (ROOT / ".tools" / "bin" / "uv").exists() else None)
    assert found, "uv is missing: scripts/setup.sh installs it"
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """A new user's shell: nothing of the checkout's virtualenv or the tests' settings."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {key: value for key, value in os.environ.items() if key not in drop and not key.startswith(("LINEAGE_", "AIRFLOW", "OPENLINEAGE", "DBT_"))}
    env.update(extra)
    return env


def run(command: list[str], cwd: Path, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} -> {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def uv_cached(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """From the uv cache when it holds everything (offline), else from the registry."""
    offline = subprocess.run([uv(), *arguments, "--offline"], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=900)
    return offline if offline.returncode == 0 else run([uv(), *arguments], cwd)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("new-user")
    assert ROOT not in root.parents and root != ROOT  # outside the checkout
    dist = root / "dist"
    uv_cached(["build", "--out-dir", str(dist), str(ROOT)], root)
    wheel = next(dist.glob("lineage_governance-*.whl"))
    sdist = next(dist.glob("lineage_governance-*.tar.gz"))
    constraints = root / "constraints.txt"
    run([uv(), "export", "--frozen", "--no-hashes", "--all-extras", "--no-emit-project", "--format", "requirements-txt", "--quiet",
         "--project", str(ROOT), "-o", str(constraints)], root)
    python = Path(sys.executable).resolve()
    uv_cached(["venv", "--python", str(python), str(root / "venv")], root)
    uv_cached(["pip", "install", "--python", str(root / "venv" / "bin" / "python"), f"{wheel}[airflow,dbt]", "-c", str(constraints)], root)
    work = root / "work"
    work.mkdir()
    return root / "venv" / "bin", work, wheel, sdist


def test_the_wheel_and_the_sdist_carry_the_license(installed):
    _, _, wheel, sdist = installed
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        license_name = next(name for name in names if name.endswith(".dist-info/licenses/LICENSE"))
        assert "Apache License" in archive.read(license_name).decode() and "Version 2.0" in archive.read(license_name).decode()
        assert "License-Expression: Apache-2.0" in archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert "lineage/examples/governed_pipeline.py" in names and "lineage/examples/dbt_project/dbt_project.yml" in names
        # test-only code is not shipped; what users are told to run is
        assert not [name for name in names if name.startswith(("lineage/testing/", "testkit/", "tests/")) or name == "airflow_plugin/testing.py"]
        assert "lineage/deliver/marquez/server.py" in names
    with tarfile.open(sdist) as archive:
        assert any(name.endswith("/LICENSE") and name.count("/") == 1 for name in archive.getnames())


def test_the_code_runs_from_the_installed_wheel(installed):
    bin_dir, work, _, _ = installed
    where = run([str(bin_dir / "python"), "-c", "import lineage, airflow_plugin; print(lineage.__file__); print(airflow_plugin.__file__)"], work).stdout
    assert str(ROOT) not in where and "site-packages" in where


def test_lineage_demo_runs_from_the_installed_wheel(installed):
    bin_dir, work, _, _ = installed
    result = run([str(bin_dir / "lineage"), "demo", "--out", str(work / "demo-output")], work, timeout=1500)
    assert "Demo finished: everything as expected." in result.stdout, result.stdout[-4000:]
    assert (work / "demo-output" / "report.html").is_file()


def test_airflow_lists_the_plugin(installed):
    bin_dir, work, _, _ = installed
    home = work / "airflow-home"
    result = run([str(bin_dir / "airflow"), "plugins"], work, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    assert "lineage_governance" in result.stdout and "airflow_plugin.listener" in result.stdout


def test_dbt_deps_installs_the_package(installed):
    bin_dir, work, _, _ = installed
    macros = run([str(bin_dir / "lineage"), "dbt", "macros-path"], work).stdout.strip()
    assert "site-packages" in macros and Path(macros, "dbt_project.yml").is_file()
    project = work / "my_project"
    project.mkdir()
    (project / "dbt_project.yml").write_text("name: my_project\nversion: '1.0.0'\nconfig-version: 2\nprofile: my_project\n")
    (project / "profiles.yml").write_text(f"my_project:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {project / 'my.duckdb'}\n")
    (project / "packages.yml").write_text(f"packages:\n  - local: {macros}\n")
    run([str(bin_dir / "dbt"), "deps", "--project-dir", str(project), "--profiles-dir", str(project)], project, DO_NOT_TRACK="1")
    installed_package = project / "dbt_packages" / "lineage_governance"
    assert (installed_package / "dbt_project.yml").is_file() and any((installed_package / "macros").glob("*.sql"))


def test_the_marquez_contract_server_runs_from_the_installed_wheel(installed):
    """The README tells users to run it (`lineage events serve`) to try events without Docker."""
    import json
    import socket
    import time
    import urllib.request

    bin_dir, work, _, _ = installed
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(bin_dir / "lineage"), "events", "serve", "--port", str(port)], cwd=work, env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "Marquez-contract server on" in server.stdout.readline()
        event = {"eventType": "START", "eventTime": "2026-01-01T00:00:00Z", "producer": "https://example.com/producer",
                 "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                 "run": {"runId": "01a22594-57fe-79c2-8da9-424b56c8b1a8"}, "job": {"namespace": "new-user", "name": "try"}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/lineage", data=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 201
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/events/lineage", timeout=30) as answer:
            assert json.load(answer)["totalCount"] == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
