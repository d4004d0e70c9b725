"""Helpers for this repository's tests, benchmarks and scripts; not part of the wheel.

    testkit.postgres      a throwaway PostgreSQL 15 server (csvlog on request), find_bindir, free_port
    testkit.airflow_home  a throwaway Airflow 3 home (SQLite metadata, dag.test(), xcom, events)
    testkit.dbt_project   a private copy of the example dbt project, with the package linked
    testkit.browser       headless Chromium over the DevTools protocol (the report test)

Importable from the checkout's virtualenv (the editable install puts the repository on the path).
The Marquez-contract server users run is shipped: ``lineage events serve`` (lineage.deliver.marquez.server).
"""
