"""Dataset namespaces and names, per OpenLineage's naming spec and what Marquez accepts.

    >>> postgres_namespace("127.0.0.1", 5432)
    'postgres://127.0.0.1:5432'
    >>> duckdb_namespace("/data/my warehouse.duckdb")
    'duckdb:///data/my_warehouse.duckdb'
    >>> dataset_name("crm.customers", database="analytics", dialect="postgres")
    'analytics.crm.customers'

Adapters call these with their connection details and pass the namespace and database to
``ExecutionContext``. A host is named as the connection names it (lower case), exactly as the
other OpenLineage producers name the same connection (the Airflow provider's
``postgres://{host}:{port}`` from the Airflow connection, openlineage-dbt's from the profile):
renaming ``127.0.0.1`` to ``localhost`` here would give Marquez two disconnected copies of
every dataset the provider also reports. Only a connection without a host (a Unix socket)
becomes ``localhost``. Aliases for one server reached under several names (a service name and
its DNS name) come from ``LINEAGE_HOST_ALIASES`` (``pg=db.internal,127.0.0.1=localhost``);
the Airflow plugin does not apply them where the provider names the connection itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from openlineage.client.naming import dataset as ol_naming

# Marquez rejects other dataset namespaces with 400 (see docs/marquez.md)
DATASET_NAMESPACE_PATTERN = re.compile(r"^[a-zA-Z:;=/0-9_\-.@+]{1,1024}$")
_NAMESPACE_FORBIDDEN = re.compile(r"[^a-zA-Z:;=/0-9_\-.@+]")
# Marquez cleans other characters out of job namespaces (a parent then no longer matches)
JOB_NAMESPACE_PATTERN = re.compile(r"^[a-zA-Z0-9:/_\-.@+]{1,1024}$")
_JOB_NAMESPACE_FORBIDDEN = re.compile(r"[^a-zA-Z0-9:/_\-.@+]")
# Marquez splits node ids on ':' (and '#' marks fragments): keep both out of names
NAME_FORBIDDEN = (":", "#")

DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}
DEFAULT_SCHEMAS = {"postgres": "public", "duckdb": "main", "redshift": "public"}


def host_aliases(env: dict[str, str] | None = None) -> dict[str, str]:
    """``LINEAGE_HOST_ALIASES=pg=db.internal,10.0.0.5=db.internal`` as a mapping."""
    value = (os.environ if env is None else env).get("LINEAGE_HOST_ALIASES", "")
    aliases = {}
    for pair in value.split(","):
        alias, sep, canonical = pair.partition("=")
        if sep and alias.strip() and canonical.strip():
            aliases[alias.strip().lower()] = canonical.strip().lower()
    return aliases


def normalize_host(host: str | None, env: dict[str, str] | None = None) -> str:
    """The host as the connection names it, lower case (as URLs compare hosts); no host or a
    Unix socket directory -> ``localhost``; then ``LINEAGE_HOST_ALIASES``."""
    value = (host or "").strip().lower()
    if not value or value.startswith("/"):
        value = "localhost"
    return host_aliases(env).get(value, value)


def postgres_namespace(host: str | None, port: int | str | None = None) -> str:
    host = normalize_host(host)
    port = str(port or DEFAULT_PORTS["postgres"])
    return ol_naming.Postgres(host=host, port=port, database="-", schema="-", table="-").get_namespace()


def postgres_context(dsn_or_connection) -> tuple[str, str | None]:
    """``(namespace, database)`` from a libpq DSN (URL or key=value) or a psycopg connection."""
    info = getattr(dsn_or_connection, "info", None)
    if info is not None and hasattr(info, "dbname"):
        host = info.host
        return postgres_namespace(host, info.port), info.dbname
    dsn = str(dsn_or_connection)
    if "://" in dsn:
        parsed = urlparse(dsn)
        query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
        host = unquote(parsed.hostname or query.get("host", "") or "")
        database = unquote(parsed.path.lstrip("/")) or query.get("dbname")
        return postgres_namespace(host, parsed.port or query.get("port")), database or None
    pairs = {}
    for token in dsn.split():
        key, sep, value = token.partition("=")
        if sep:
            pairs[key] = value.strip("'")
    return postgres_namespace(pairs.get("host") or pairs.get("hostaddr"), pairs.get("port")), pairs.get("dbname")


def duckdb_namespace(path: str | os.PathLike | None) -> str:
    """``duckdb://{absolute path}`` (what openlineage-dbt does), with characters Marquez
    rejects (spaces, for example) replaced by ``_``; in-memory databases are ``duckdb://memory``."""
    text = str(path) if path is not None else ":memory:"
    if text in ("", ":memory:") or text.startswith(":memory:"):
        return "duckdb://memory"
    if text.startswith("md:") or text.startswith("motherduck:"):
        return sanitize_namespace("duckdb://" + text.split(":", 1)[1].lstrip("/"))
    return sanitize_namespace("duckdb://" + str(Path(text).expanduser().resolve()))


def duckdb_database(path: str | os.PathLike | None) -> str:
    """DuckDB names a database after its file's stem (``memory`` in memory)."""
    text = str(path) if path is not None else ":memory:"
    if text in ("", ":memory:") or text.startswith(":memory:"):
        return "memory"
    return Path(text).stem


def snowflake_namespace(account: str) -> str:
    """``snowflake://{org}-{account}``; a legacy account locator gets its region and cloud
    (``xy12345`` -> ``xy12345.us-west-1.aws``), as the naming spec and openlineage-dbt do."""
    account = account.strip().lower().removesuffix(".snowflakecomputing.com")
    parts = account.split(".")
    if "-" in parts[0]:
        identifier = parts[0]  # organization-account: never carries region or cloud
    elif len(parts) == 1:
        identifier = f"{parts[0]}.us-west-1.aws"
    elif len(parts) == 2:
        identifier = f"{parts[0]}.{parts[1]}.aws"
    else:
        identifier = account
    return sanitize_namespace(f"snowflake://{identifier}")


def bigquery_namespace() -> str:
    return ol_naming.BigQuery(project_id="-", dataset_name="-", table_name="-").get_namespace()


def default_namespace(dialect: str) -> str:
    """Used when an adapter gave no namespace: valid, but not joinable with other producers."""
    if dialect == "bigquery":
        return bigquery_namespace()
    return sanitize_namespace(f"{dialect}://unknown")


def sanitize_namespace(namespace: str) -> str:
    """Replace characters Marquez rejects in a dataset namespace with ``_``."""
    cleaned = _NAMESPACE_FORBIDDEN.sub("_", namespace)[:1024]
    return cleaned or "unknown"


def sanitize_job_namespace(namespace: str) -> str:
    cleaned = _JOB_NAMESPACE_FORBIDDEN.sub("_", namespace)[:1024]
    return cleaned or "default"


def sanitize_name(name: str) -> str:
    """Dataset and job names without ``:`` or ``#`` (Marquez node ids split on them)."""
    for char in NAME_FORBIDDEN:
        name = name.replace(char, "_")
    return name


def dataset_name(table: str, database: str | None = None, dialect: str = "postgres", schema: str | None = None) -> str:
    """``{database}.{schema}.{table}`` from a name as the analysis reports it (1 to 3 parts).

    Missing parts come from the execution context (database) and the dialect's default schema.
    """
    parts = [part for part in table.split(".") if part]
    if len(parts) == 1:
        parts.insert(0, schema or DEFAULT_SCHEMAS.get(dialect, "public"))
    if len(parts) == 2 and database:
        parts.insert(0, database)
    return sanitize_name(".".join(parts))
