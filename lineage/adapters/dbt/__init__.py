"""dbt: the ``lineage dbt`` runner and what it needs besides dbt itself.

    identity.py     the run identity of a dbt invocation (the same fields as the query comment)
    manifest.py     classifications from column ``meta``, relation names, DAG order, exposures
    preflight.py    every node that will run, analysed before anything runs (pure: no dbt import)
    plan.py         what the macros need for this run: masks per relation, derived keys, approvals
    warehouse.py    the live catalog, read through dbt's own adapter connection
    runner.py       dbtRunner in-process: pre-flight hook, ledger from SQLQuery events, approvals
    sidecar.py      the process that judges and records beside dbt
    masks.py        which masks the SQL dbt ran holds (the markers the macros render), for the record
    openlineage.py  per-node START/COMPLETE/FAIL events under the invocation's run

Only ``runner.py`` and ``warehouse.py`` import dbt, and only when they run: ``lineage`` stays
importable without dbt installed. The dbt package itself (``dbt_macros/``, installed in wheels
as ``lineage/dbt_macros``) is Jinja, not Python.
"""

from __future__ import annotations

from pathlib import Path


def macros_path() -> Path:
    """Where the ``lineage_governance`` dbt package is: next to this module in a wheel, else the repo's."""
    here = Path(__file__).resolve().parents[2]  # the lineage package
    for candidate in (here / "dbt_macros", here.parent / "dbt_macros"):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise FileNotFoundError(f"the lineage_governance dbt package is neither in {here / 'dbt_macros'} nor in {here.parent / 'dbt_macros'}")
