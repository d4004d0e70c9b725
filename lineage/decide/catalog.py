"""Catalog: table -> ordered columns with types.

Sources: a JSON file in sqlglot's nested mapping format (``{"schema": {"table": {"col":
"type"}}}``, with or without a database level, or just ``{"table": {...}}``), a live
PostgreSQL or DuckDB database (``information_schema``), or dbt's artifacts (the dbt issue).
The analysis needs it to expand ``SELECT *``, to qualify columns and to mask.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from lineage.decide.allowlist.overloads import POSTGRES_QUERY as OVERLOADS_QUERY, builtin_overloads
from lineage.locations import location, without_password

DEFAULT_SCHEMAS = {"postgres": "public", "duckdb": "main", "redshift": "public"}


class CatalogError(Exception):
    """A catalog that cannot be used; the message names the file or DSN and the key.
    ``path`` is the key path of the problem in a mapping, when there is one."""

    def __init__(self, message: str, path: tuple[str, ...] | None = None, detail: str | None = None):
        super().__init__(message)
        self.path = path
        self.detail = detail


@dataclass
class Catalog:
    """Tables by qualified name. Lookups are case-insensitive and match trailing parts."""

    tables: dict[tuple[str, ...], dict[str, str]] = field(default_factory=dict)
    dialect: str = "postgres"
    default_database: str | None = None
    default_schema: str | None = None
    source: str = "empty"
    # built-in function names that also name a function outside pg_catalog, with those schemas
    # (lineage.decide.allowlist.overloads); read with a live PostgreSQL catalog only
    function_overloads: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.default_schema = self.default_schema or DEFAULT_SCHEMAS.get(self.dialect)
        self._index: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._ambiguous: set[tuple[str, ...]] = set()
        self._rebuild_index()
        self._schema = None
        self._version: str | None = None
        self._fragments: dict[tuple[str, ...], str] = {}  # per-table JSON for the version

    def _rebuild_index(self) -> None:
        self._index, self._ambiguous = {}, set()
        for parts in self.tables:
            self._index_table(parts)

    def _index_table(self, parts: tuple[str, ...]) -> None:
        lowered = tuple(part.lower() for part in parts)
        for size in range(1, len(lowered) + 1):
            suffix = lowered[len(lowered) - size:]
            if suffix in self._ambiguous:
                continue
            found = self._index.get(suffix)
            if found is None or tuple(part.lower() for part in found) == lowered:
                self._index[suffix] = parts
            else:
                # an unqualified suffix shared by two tables is ambiguous: only full names resolve it
                del self._index[suffix]
                self._ambiguous.add(suffix)

    @property
    def depth(self) -> int:
        return max((len(parts) for parts in self.tables), default=0)

    @property
    def version(self) -> str:
        """sha256 of the content; each table's JSON is kept, so a catalog that learns one table
        at a time (a dbt pre-flight over hundreds of models) does not re-serialise them all."""
        if self._version is None:
            fragments = self._fragments
            for parts, columns in self.tables.items():
                if parts not in fragments:
                    fragments[parts] = json.dumps([list(parts), list(columns.items())], separators=(",", ":"))
            head = json.dumps([self.dialect, self.default_database, self.default_schema, sorted(self.function_overloads.items())], separators=(",", ":"))[:-1]
            payload = head + ",[" + ",".join(fragments[parts] for parts in sorted(self.tables)) + "]]"
            self._version = "sha256:" + hashlib.sha256(payload.encode()).hexdigest()[:32]
        return self._version

    def resolve(self, name: str | Iterable[str]) -> tuple[str, ...] | None:
        """The catalog's own parts for a (possibly more or less qualified) table name."""
        parts = tuple(name.split(".")) if isinstance(name, str) else tuple(name)
        lowered = tuple(part.lower() for part in parts if part)
        for start in range(0, len(lowered)):
            found = self._index.get(lowered[start:])
            if found is not None and (start == 0 or len(found) <= len(lowered) - start):
                return found
        return None

    def columns(self, name: str | Iterable[str]) -> dict[str, str] | None:
        parts = self.resolve(name)
        return None if parts is None else self.tables[parts]

    def add_table(self, name: str | Iterable[str], columns: Mapping[str, str]) -> None:
        """Add or replace a table; its name is fitted to the depth the catalog already uses."""
        parts = tuple(name.split(".")) if isinstance(name, str) else tuple(name)
        depth = self.depth
        if depth and len(parts) > depth:
            parts = parts[len(parts) - depth:]
        elif depth and len(parts) < depth:
            defaults = (self.default_database, self.default_schema)[3 - depth:]
            missing = defaults[: depth - len(parts)]
            if any(part is None for part in missing):
                raise CatalogError(f"cannot place {'.'.join(parts)} in a catalog of {depth}-part names without defaults")
            parts = tuple(missing) + parts
        new_depth = not self.tables or len(parts) != depth
        self.tables[parts] = dict(columns)
        self._index_table(parts)
        self._fragments.pop(parts, None)
        self._version = None
        if self._schema is not None and not new_depth:
            self._schema_add(parts, columns)
        else:
            self._schema = None

    def _schema_add(self, parts: tuple[str, ...], columns: Mapping[str, str]) -> None:
        """One more table in sqlglot's schema, named the way ``mapping()`` names it, without
        normalising all the others again (a pre-flight learns hundreds of models one by one)."""
        from sqlglot import exp

        try:
            identifiers = [exp.parse_identifier(part, dialect=self.dialect) for part in parts]
            table = exp.Table(this=identifiers[-1], db=identifiers[-2] if len(identifiers) > 1 else None,
                              catalog=identifiers[-3] if len(identifiers) > 2 else None)
            self._schema.add_table(table, dict(columns), dialect=self.dialect)
        except Exception:
            self._schema = None  # rebuilt from mapping() when next needed

    def mapping(self) -> dict[str, Any]:
        """The nested mapping sqlglot's MappingSchema reads (all tables at the deepest level)."""
        depth = self.depth
        nested: dict[str, Any] = {}
        for parts, columns in self.tables.items():
            full = self._pad(parts, depth)
            node = nested
            for part in full[:-1]:
                node = node.setdefault(part, {})
            node[full[-1]] = dict(columns)
        return nested

    def _pad(self, parts: tuple[str, ...], depth: int) -> tuple[str, ...]:
        if len(parts) == depth:
            return parts
        defaults = [self.default_database or "", self.default_schema or ""]
        missing = depth - len(parts)
        return tuple(defaults[2 - missing:]) + parts

    def sqlglot_schema(self):
        if self._schema is None:
            from sqlglot.schema import MappingSchema

            self._schema = MappingSchema(self.mapping(), dialect=self.dialect, normalize=True)
        return self._schema

    def to_json(self) -> dict[str, Any]:
        return self.mapping()

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        dialect: str = "postgres",
        default_database: str | None = None,
        default_schema: str | None = None,
        source: str = "<mapping>",
    ) -> "Catalog":
        if not isinstance(data, Mapping):
            raise CatalogError(f"{source}: a catalog is a JSON object such as {{\"schema\": {{\"table\": {{\"column\": \"type\"}}}}}}")
        tables: dict[tuple[str, ...], dict[str, str]] = {}
        _walk(data, (), tables, source, dialect)
        depths = {len(parts) for parts in tables}
        if len(depths) > 1:
            raise CatalogError(
                f"{source}: tables are nested at different depths ({', '.join(str(d) for d in sorted(depths))}); "
                "use one of table, schema.table or database.schema.table for all"
            )
        if default_database is None and depths == {3}:
            databases = {parts[0] for parts in tables}
            if len(databases) == 1:
                default_database = databases.pop()
        return cls(tables, dialect, default_database, default_schema, source)

    @classmethod
    def from_json_file(cls, path: str | Path, dialect: str = "postgres", **defaults: Any) -> "Catalog":
        """A catalog file, read strictly (``lineage.decide.catalog_file``): errors name file, line and column."""
        from lineage.decide.catalog_file import JsonFileError, line_and_column, locate, read_json

        path = Path(path)
        try:
            data, text = read_json(path.read_bytes())
        except OSError as error:
            raise CatalogError(f"{path}: cannot read the catalog: {error.strerror or error}") from None
        except JsonFileError as error:
            raise CatalogError(f"{_at(path, error.line, error.column)}: {error.message}") from None
        try:
            return cls.from_mapping(data, dialect=dialect, source=str(path), **defaults)
        except CatalogError as error:
            if error.path is None or error.detail is None:
                raise
            offset = locate(text, error.path)
            line, column = line_and_column(text, offset) if offset is not None else (None, None)
            raise CatalogError(f"{_at(path, line, column)}: {'.'.join(error.path)}: {error.detail}", error.path, error.detail) from None

    @classmethod
    def from_dsn(cls, dsn: str, dialect: str | None = None) -> "Catalog":
        where = location(dsn)
        if where.warehouse_kind() == "postgres":
            return cls.from_postgres(dsn)
        if where.warehouse_kind() == "duckdb":
            return cls.from_duckdb(str(where.path))
        raise CatalogError(f"{without_password(dsn)}: not a PostgreSQL (postgresql://...) or DuckDB (duckdb:///path) DSN")

    @classmethod
    def from_postgres(cls, dsn_or_connection: Any) -> "Catalog":
        query = """
            select table_catalog, table_schema, table_name, column_name, data_type,
                   character_maximum_length, numeric_precision, numeric_scale
            from information_schema.columns
            where table_schema not in ('pg_catalog', 'information_schema')
              and table_schema not like 'pg_toast%%'
            order by table_schema, table_name, ordinal_position
        """
        if isinstance(dsn_or_connection, str):
            try:
                import psycopg
            except ImportError as error:  # pragma: no cover - depends on extras
                raise CatalogError("reading a PostgreSQL catalog needs the 'postgres' extra (psycopg)") from error
            try:
                with psycopg.connect(dsn_or_connection, connect_timeout=10) as connection:
                    rows = connection.execute(query).fetchall()
                    database = connection.info.dbname
                    overloads = builtin_overloads(connection.execute(OVERLOADS_QUERY).fetchall())
            except psycopg.Error as error:
                raise CatalogError(f"{without_password(dsn_or_connection)}: cannot read information_schema: {error}") from None
            source = without_password(dsn_or_connection)
        else:
            rows = dsn_or_connection.execute(query).fetchall()
            database = rows[0][0] if rows else None
            overloads = builtin_overloads(dsn_or_connection.execute(OVERLOADS_QUERY).fetchall())
            source = "postgres connection"
        tables: dict[tuple[str, ...], dict[str, str]] = {}
        for db, schema, table, column, data_type, length, precision, scale in rows:
            tables.setdefault((db, schema, table), {})[column] = postgres_type(data_type, length, precision, scale)
        return cls(tables, "postgres", database, "public", source, overloads)

    @classmethod
    def from_duckdb(cls, path_or_connection: Any) -> "Catalog":
        query = """
            select table_catalog, table_schema, table_name, column_name, data_type
            from information_schema.columns
            where table_schema not in ('information_schema', 'pg_catalog')
              and table_catalog not in ('system', 'temp')
            order by table_catalog, table_schema, table_name, ordinal_position
        """
        if isinstance(path_or_connection, (str, Path)):
            import duckdb

            try:
                connection = duckdb.connect(str(path_or_connection), read_only=str(path_or_connection) != ":memory:")
            except duckdb.Error as error:
                raise CatalogError(f"{path_or_connection}: cannot open the DuckDB database: {error}") from None
            try:
                rows = connection.execute(query).fetchall()
                database = connection.execute("select current_database()").fetchone()[0]
            finally:
                connection.close()
            source = str(path_or_connection)
        else:
            rows = path_or_connection.execute(query).fetchall()
            database = path_or_connection.execute("select current_database()").fetchone()[0]
            source = "duckdb connection"
        tables: dict[tuple[str, ...], dict[str, str]] = {}
        for db, schema, table, column, data_type in rows:
            tables.setdefault((db, schema, table), {})[column] = data_type
        return cls(tables, "duckdb", database, "main", source)


def _walk(node: Mapping[str, Any], path: tuple[str, ...], tables: dict, source: str, dialect: str = "postgres") -> None:
    from lineage.decide.catalog_file import type_problem

    for key, value in node.items():
        here = path + (str(key),)
        if not isinstance(value, Mapping) or not value:
            _refuse(source, here, f"expected an object of columns or of tables, got {json.dumps(value)[:60]}")
        leaves = [isinstance(item, str) for item in value.values()]
        if all(leaves):
            if len(path) > 2:
                _refuse(source, here, "nested deeper than database.schema.table")
            for column, type_ in value.items():
                problem = type_problem(type_, dialect)
                if problem:
                    _refuse(source, here + (column,), problem)
            tables[here] = dict(value)
        elif any(leaves):
            _refuse(source, here, "mixes column types and nested objects")
        elif len(path) >= 2:
            _refuse(source, here, "nested deeper than database.schema.table")
        else:
            _walk(value, here, tables, source, dialect)


def _refuse(source: str, path: tuple[str, ...], detail: str) -> None:
    raise CatalogError(f"{source}: {'.'.join(path)}: {detail}", path, detail)


def _at(path: Path, line: int | None, column: int | None) -> str:
    return f"{path}:{line}:{column}" if line is not None else str(path)


def postgres_type(data_type: str, length: int | None, precision: int | None, scale: int | None) -> str:
    """A column's type as information_schema describes it, written as PostgreSQL does.

    >>> postgres_type("character varying", 40, None, None), postgres_type("numeric", None, 12, 2)
    ('character varying(40)', 'numeric(12,2)')
    """
    if length is not None and data_type in ("character varying", "character", "bit", "bit varying"):
        return f"{data_type}({length})"
    if data_type == "numeric" and precision is not None:
        return f"numeric({precision},{scale or 0})"
    return data_type
