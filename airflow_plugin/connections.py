"""What a DbApiHook's connection is, in the governor's terms: dialect, dataset namespace, database.

    describe(PostgresHook("warehouse"))  ->  Target(conn_id="warehouse", dialect="postgres",
        namespace="postgres://db.internal:5432", database="analytics", login="etl", host="db.internal")

Namespaces come from ``lineage.events.naming`` (OpenLineage's naming spec, the host normalised:
lower case, loopback spellings -> ``localhost``, ``LINEAGE_HOST_ALIASES``), so the plugin, dbt
and DB-API events agree on one string per data source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Airflow connection type -> sqlglot dialect
DIALECTS = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "redshift": "redshift",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "google_cloud_platform": "bigquery",
    "gcpbigquery": "bigquery",
    "bigquery": "bigquery",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
    "oracle": "oracle",
    "trino": "trino",
    "presto": "presto",
    "databricks": "databricks",
    "hive_cli": "hive",
    "hiveserver2": "hive",
    "spark_sql": "spark",
    "clickhouse": "clickhouse",
    "teradata": "teradata",
}
DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439, "mysql": 3306, "mssql": 1433, "trino": 8080, "oracle": 1521}
SCHEMES = {"postgresql": "postgres", "google_cloud_platform": "bigquery", "gcpbigquery": "bigquery"}


@dataclass(frozen=True)
class Target:
    conn_id: str
    conn_type: str
    dialect: str
    namespace: str
    database: str | None
    login: str | None
    host: str | None
    port: int | None = None

    @property
    def is_postgres(self) -> bool:
        return self.dialect in ("postgres", "redshift")


def describe(hook) -> Target:
    """The target of a DbApiHook (reads the Airflow connection once; the hook caches it)."""
    conn_id = hook.get_conn_id()
    connection = hook.connection
    conn_type = (getattr(hook, "conn_type", None) or connection.conn_type or "generic").lower()
    if conn_type == "postgres" and connection.extra_dejson.get("redshift"):
        conn_type = "redshift"
    dialect = DIALECTS.get(conn_type) or _sqlglot_dialect(conn_type)
    from lineage.events import naming

    host = (connection.host or "").strip() or None
    if conn_type == "duckdb":
        path = os.path.abspath(host) if host else None
        return Target(conn_id, conn_type, dialect, naming.duckdb_namespace(path), naming.duckdb_database(path), None, path)
    database = getattr(hook, "database", None) or connection.schema or None
    scheme = SCHEMES.get(conn_type, conn_type)
    port = connection.port or DEFAULT_PORTS.get(scheme)
    if scheme == "postgres":
        namespace = naming.postgres_namespace(host, port)
    else:
        namespace = naming.sanitize_namespace(f"{scheme}://{naming.normalize_host(host)}" + (f":{port}" if port else ""))
    return Target(conn_id, conn_type, dialect, namespace, database, connection.login or None, host, port)


def _sqlglot_dialect(name: str) -> str:
    """A connection type sqlglot knows by the same name, else sqlglot's generic dialect."""
    from sqlglot.dialects.dialect import Dialect

    try:
        Dialect.get_or_raise(name)
        return name
    except ValueError:
        return ""
