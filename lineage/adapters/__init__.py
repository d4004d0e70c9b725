"""Adapters translate their world into statements and carry out the governor's decisions.

    dbapi.py           any DB-API connection (psycopg, DuckDB): ``govern(connection)``; used by Airflow's raw connections and ``lineage exec``
    session_guard.py   what a live connection does to every statement (settings the server reports)
    dbt/               ``lineage dbt``: dbt in-process, the pre-flight, records and events per node

The Airflow plugin is its own top-level package (``airflow_plugin``), registered by entry point.
"""
