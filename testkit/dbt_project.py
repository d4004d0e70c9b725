"""A private copy of the example dbt project (``dags_examples/dbt_project``) for tests and benchmarks.

    project = example_project(tmp_path / "shop")          # files copied, the package linked
    env = project_env(project, duckdb=tmp_path / "shop.duckdb")
    subprocess.run([".venv/bin/dbt", "build"], cwd=project, env=env)

The ``lineage_governance`` package is linked into ``dbt_packages/`` the way ``dbt deps`` installs
a ``local:`` package (a symbolic link), without the seconds ``dbt deps`` takes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lineage.adapters.dbt import macros_path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "dags_examples" / "dbt_project"
IGNORED = ("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", ".user.yml", "package-lock.yml")


def example_project(destination: Path, source: Path = EXAMPLE) -> Path:
    if not (source / "dbt_project.yml").is_file():
        raise FileNotFoundError(f"{source}: no dbt_project.yml (the example dbt project is missing)")
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*IGNORED))
    packages = destination / "dbt_packages"
    packages.mkdir(exist_ok=True)
    (packages / "lineage_governance").symlink_to(macros_path(), target_is_directory=True)
    return destination


def project_env(project: Path, duckdb: Path | None = None, postgres: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment dbt and ``lineage dbt`` run the copy with (DuckDB by default)."""
    env = dict(os.environ)
    env.update({
        "DBT_PROFILES_DIR": str(project),
        "DBT_PROJECT_DIR": str(project),
        "LINEAGE_DBT_MACROS": str(macros_path()),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    })
    if postgres is not None:
        env["GOVERNED_SHOP_TARGET"] = "postgres"
        for key in ("host", "port", "user", "password", "dbname"):
            if key in postgres:
                env[f"GOVERNED_SHOP_PG{'DATABASE' if key == 'dbname' else key.upper()}"] = str(postgres[key])
    else:
        env["GOVERNED_SHOP_TARGET"] = "duckdb"
        env["GOVERNED_SHOP_DUCKDB"] = str(duckdb or project / "governed_shop.duckdb")
    env.update(extra)
    return env
