"""Helpers for the dbt tests: run dbt in-process (dbtRunner) without leaking its side effects."""

from __future__ import annotations

import os
from pathlib import Path

from lineage.adapters.dbt import macros_path
from lineage.adapters.dbt.runner import scoped_environ as environment


def run_dbt(args: list[str], env: dict[str, str | None], callbacks=()):
    """Plain dbt (no lineage), in-process; returns dbtRunner's result. dbt's chdir is undone."""
    from dbt.cli.main import dbtRunner

    from lineage.adapters.dbt.runner import release_duckdb

    cwd = os.getcwd()
    try:
        with environment(env):
            return dbtRunner(callbacks=list(callbacks)).invoke(args)
    finally:
        os.chdir(cwd)
        release_duckdb()


def link_package(project: Path) -> None:
    packages = project / "dbt_packages"
    packages.mkdir(exist_ok=True)
    link = packages / "lineage_governance"
    if not link.exists():
        link.symlink_to(macros_path(), target_is_directory=True)


SHOP_ENV_KEYS = (
    "GOVERNED_SHOP_TARGET", "GOVERNED_SHOP_DUCKDB", "GOVERNED_SHOP_PGHOST", "GOVERNED_SHOP_PGPORT", "GOVERNED_SHOP_PGUSER",
    "GOVERNED_SHOP_PGPASSWORD", "GOVERNED_SHOP_PGDATABASE", "LINEAGE_PRINCIPAL", "LINEAGE_GROUPS", "LINEAGE_ENV", "LINEAGE_RUN_ID",
    "LINEAGE_JOB_NAME", "LINEAGE_JOB_NAMESPACE", "LINEAGE_ACTOR", "OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID",
    "OPENLINEAGE_CONTEXT", "AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID", "AIRFLOW_CTX_TRY_NUMBER", "LINEAGE_DBT_PLAN",
    "LINEAGE_POLICY_VERSION", "LINEAGE_MASKING_KEY", "OPENLINEAGE_URL", "LINEAGE_EVENTS_FILE", "DBT_PROJECT_DIR", "DBT_PROFILES_DIR",
)


def clean_env(**values: str) -> dict[str, str | None]:
    """Every variable the example project or the runner reads, unset unless given."""
    env: dict[str, str | None] = {key: None for key in SHOP_ENV_KEYS}
    env.update({"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    env.update(values)
    return env
