"""What a DbApiHook's connection is, in the governor's terms: dialect, dataset namespace, database.

    describe(PostgresHook("warehouse"))  ->  Target(conn_id="warehouse", dialect="postgres",
        namespace="postgres://db.internal:5432", database="analytics", login="etl", host="db.internal")

Namespace and database are the OpenLineage provider's own for the connection (the hook's
``get_openlineage_database_info``: ``postgres://{host}:{port}`` as the Airflow connection spells
the host), so a statement's datasets and the provider's task datasets are one node in Marquez.
Hooks the provider does not name (DuckDB, or the provider not installed) get the same formula
(``DbApiHook.get_openlineage_authority_part``) or ``lineage.deliver.naming``'s.
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
    from lineage.deliver import naming

    host = (connection.host or "").strip() or None
    provider = provider_naming(hook, connection)
    if conn_type == "duckdb" and provider is None:  # what openlineage-dbt names DuckDB: duckdb://{path}
        path = os.path.abspath(host) if host else None
        return Target(conn_id, conn_type, dialect, naming.duckdb_namespace(path), naming.duckdb_database(path), None, path)
    database = getattr(hook, "database", None) or connection.schema or None
    scheme = SCHEMES.get(conn_type, conn_type)
    port = connection.port or DEFAULT_PORTS.get(scheme)
    if provider is not None:
        namespace, database = provider[0], provider[1] or database
    else:
        namespace = f"{scheme}://{_authority(connection, DEFAULT_PORTS.get(scheme))}"
    return Target(conn_id, conn_type, dialect, naming.sanitize_namespace(namespace), database, connection.login or None, host, port)


def _sqlglot_dialect(name: str) -> str:
    """A connection type sqlglot knows by the same name, else sqlglot's generic dialect ("").

    >>> _sqlglot_dialect("doris"), _sqlglot_dialect("odbc")
    ('doris', '')
    """
    from sqlglot.dialects.dialect import Dialect

    try:
        Dialect.get_or_raise(name)
        return name
    except ValueError:
        return ""


def provider_naming(hook, connection) -> tuple[str, str | None] | None:
    """``(namespace, database)`` as the OpenLineage provider names this connection's datasets,
    or None when the hook has no OpenLineage database info (or the provider is not installed).

        PostgresHook, host 127.0.0.1 port 5432 schema shop  ->  ("postgres://127.0.0.1:5432", "shop")
    """
    try:
        info = hook.get_openlineage_database_info(connection)
    except Exception:  # ImportError without the provider; a hook's own lookup failing
        return None
    if info is None or not getattr(info, "scheme", None):
        return None
    # airflow.providers.openlineage.sqlparser.SQLParser.create_namespace
    namespace = f"{info.scheme}://{info.authority}" if info.authority else info.scheme
    return namespace, info.database


def _authority(connection, default_port: int | None) -> str:
    """``host:port`` as the provider derives it from an Airflow connection (common-sql's
    ``DbApiHook.get_openlineage_authority_part``: the URI's host, lower case); no host ->
    ``localhost`` (a Unix socket)."""
    from urllib.parse import urlparse

    from lineage.deliver import naming

    try:
        parsed = urlparse(connection.get_uri())
        host, port = parsed.hostname, parsed.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    host = host or naming.normalize_host(connection.host)
    port = port or connection.port or default_port
    return f"{host}:{port}" if port else host
