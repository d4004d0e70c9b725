"""The catalog the pre-flight analyses with: the warehouse's own, read through dbt's adapter
connection (so it is one more query in the ledger, with the identity comment), completed by
``target/catalog.json`` (``dbt docs generate``) and the columns declared in the manifest.

    warehouse_catalog(adapter, "duckdb", [("shop", "raw"), ("shop", "staging")], manifest, Path("target"))
    -> Catalog {("shop", "raw", "raw_customers"): {"id": "INTEGER", "email": "VARCHAR", ...}, ...}

Live reads are implemented for PostgreSQL (and Redshift) and DuckDB; other adapters use
catalog.json and the manifest (run ``dbt docs generate`` first for ``select *`` lineage there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from lineage.adapters.dbt.manifest import get, relation_name

if TYPE_CHECKING:  # the dbt process reads the warehouse; the catalog is built in the sidecar
    from lineage.decide.catalog import Catalog

LIVE = ("postgres", "redshift", "duckdb")


def columns_query(dialect: str) -> str:
    """information_schema.columns of every user schema, in ordinal order (built by the sidecar;
    the dbt side keeps the schemas the run touches)."""
    from sqlglot import exp

    columns = ["table_catalog", "table_schema", "table_name", "column_name", "data_type"]
    if dialect in ("postgres", "redshift"):
        columns += ["character_maximum_length", "numeric_precision", "numeric_scale"]
    system = exp.column("table_schema").isin(*(exp.Literal.string(name) for name in ("information_schema", "pg_catalog")))
    query = (
        exp.select(*columns)
        .from_(exp.table_("columns", db="information_schema"))
        .where(exp.not_(system))
        .order_by("table_catalog", "table_schema", "table_name", "ordinal_position")
    )
    return query.sql(dialect)


def live_columns(adapter: Any, query: str) -> list[tuple]:
    """The rows of ``columns_query``, through dbt's connection (needs an open one); the sidecar
    makes them a catalog layer (``live_tables``)."""
    _, cursor = adapter.connections.add_select_query(query)
    return [tuple(row) for row in cursor.fetchall()]


def live_tables(rows: Iterable[tuple]) -> dict[tuple[str, ...], dict[str, str]]:
    """Columns of every table in ``columns_query``'s rows."""
    from lineage.decide.catalog import postgres_type

    tables: dict[tuple[str, ...], dict[str, str]] = {}
    for row in rows:
        database, schema, table, column, data_type, *sizes = row
        if sizes:
            data_type = postgres_type(data_type, *sizes)
        tables.setdefault((database, schema, table), {})[column] = data_type
    return tables


def artifact_tables(target_path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """``catalog.json`` from ``dbt docs generate``, when there is one."""
    path = target_path / "catalog.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tables: dict[tuple[str, ...], dict[str, str]] = {}
    for section in ("sources", "nodes"):
        for entry in (data.get(section) or {}).values():
            metadata = entry.get("metadata") or {}
            key = tuple(part for part in (metadata.get("database"), metadata.get("schema"), metadata.get("name")) if part)
            columns = sorted((entry.get("columns") or {}).values(), key=lambda column: column.get("index") or 0)
            if len(key) == 3 and columns:
                tables[key] = {column["name"]: column.get("type") or "UNKNOWN" for column in columns}
    return tables


def manifest_tables(nodes: Iterable[Any]) -> dict[tuple[str, ...], dict[str, str]]:
    """Columns declared in YAML (with their data_type, when given)."""
    tables: dict[tuple[str, ...], dict[str, str]] = {}
    for node in nodes:
        relation = relation_name(node)
        columns = get(node, "columns") or {}
        if relation is None or not columns or relation.count(".") != 2:
            continue
        tables[tuple(relation.split("."))] = {get(column, "name") or name: get(column, "data_type") or "UNKNOWN" for name, column in columns.items()}
    return tables


def merged_catalog(dialect: str, database: str | None, schema: str | None, *layers: dict) -> Catalog:
    """The first layer that knows a table wins (live, then catalog.json, then the manifest)."""
    from lineage.decide.catalog import Catalog

    tables: dict[tuple[str, ...], dict[str, str]] = {}
    lowered: set[tuple[str, ...]] = set()
    for layer in layers:
        for key, columns in layer.items():
            folded = tuple(part.lower() for part in key)
            if folded not in lowered and len(key) == 3:
                tables[key] = columns
                lowered.add(folded)
    return Catalog(tables, dialect, database, schema, "dbt: warehouse, catalog.json, manifest")
