"""The ``packages.yml`` entries of docs/dbt.md ("Install the package") install the lineage_governance package with real
``dbt deps``: the git URL with ``subdirectory`` and a ``revision`` tag (against a local git
repository over file://, no network) and, for a monorepo, a relative ``local:`` path. Both are
committable: nothing in them names one machine. The project then parses with the macros."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dbt_helpers import run_dbt

pytestmark = [pytest.mark.dbt]

ROOT = Path(__file__).resolve().parents[3]
JAFFLE = Path(__file__).resolve().parents[2] / "jaffle_governed"


def documented_packages() -> str:
    """The ``packages.yml`` block of docs/dbt.md's "Install the package"."""
    text = (ROOT / "docs" / "dbt.md").read_text()
    section = text.split("### Install the package", 1)[1]
    return section.split("```yaml", 1)[1].split("```", 1)[0]


def project_at(path: Path, packages: str) -> Path:
    shutil.copytree(JAFFLE, path, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "packages.yml", "package-lock.yml"))
    (path / "packages.yml").write_text(packages)
    return path


def dbt(project: Path, *args: str):
    env = {"DBT_PROFILES_DIR": str(project), "DBT_PROJECT_DIR": str(project), "JAFFLE_TARGET": "duckdb",
           "JAFFLE_DUCKDB": str(project / "jaffle_governed.duckdb"), "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "LINEAGE_DBT_MACROS": None}
    return run_dbt([*args, "--project-dir", str(project)], env)


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout


def test_the_documented_git_entry_installs_the_package_at_its_revision(tmp_path):
    entries = yaml.safe_load(documented_packages())["packages"]
    entry = entries[0]
    assert set(entry) == {"git", "subdirectory", "revision"} and entry["subdirectory"] == "dbt_macros"
    assert not Path(entry["git"]).is_absolute() and "://" in entry["git"]  # a URL, the same for everyone

    # the repository as it was tagged, and a later commit the revision must not pick up
    repo = tmp_path / "lineage-governance"
    repo.mkdir()
    git(repo, "init", "-q")
    shutil.copytree(ROOT / "dbt_macros", repo / "dbt_macros")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lineage_governance")
    git(repo, "tag", entry["revision"])
    (repo / "dbt_macros" / "macros" / "after_the_tag.sql").write_text("{% macro after_the_tag() %}{% endmacro %}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "later")

    local = dict(entry, git=repo.as_uri())  # the documented entry, pointed at the local repository
    project = project_at(tmp_path / "jaffle", yaml.safe_dump({"packages": [local]}))
    deps = dbt(project, "deps")
    assert deps.success, deps.exception
    installed = project / "dbt_packages" / "lineage_governance"
    assert (installed / "dbt_project.yml").is_file() and not (installed / "macros" / "after_the_tag.sql").exists()
    assert not filecmp.dircmp(ROOT / "dbt_macros" / "macros", installed / "macros").diff_files
    parsed = dbt(project, "parse")
    assert parsed.success, parsed.exception


def test_the_documented_local_entry_works_from_a_monorepo(tmp_path):
    commented = [line.strip().lstrip("#").strip() for line in documented_packages().splitlines() if "local:" in line]
    assert len(commented) == 1
    entry = yaml.safe_load(commented[0].lstrip("- "))
    path = Path(entry["local"])
    assert not path.is_absolute() and path.parts[0] == ".."
    project = tmp_path / "monorepo" / "jaffle"
    package = (project / path).resolve()
    package.parent.mkdir(parents=True)
    shutil.copytree(ROOT / "dbt_macros", package)
    project_at(project, yaml.safe_dump({"packages": [entry]}))
    deps = dbt(project, "deps")
    assert deps.success, deps.exception
    installed = project / "dbt_packages" / "lineage_governance"
    assert (installed / "dbt_project.yml").is_file() and installed.resolve() == package
    parsed = dbt(project, "parse")
    assert parsed.success, parsed.exception
