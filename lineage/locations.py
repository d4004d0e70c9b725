"""Where a store or a database is, from the URL or DSN a user gives: the one reading of ledger,
approvals and warehouse addresses (``--ledger``, ``--approvals``, ``--dsn``, the Airflow settings).

    postgresql://u@h/db, postgres://..., host=h dbname=db   -> postgres (the text goes to libpq as given)
    sqlite:///rel.db, sqlite:////abs.db                     -> sqlite at rel.db, /abs.db
    duckdb:///rel.duckdb, duckdb:////abs.duckdb, :memory:   -> duckdb at rel.duckdb, /abs.duckdb, :memory:
    a plain path                                            -> path (a ledger reads it as SQLite, a warehouse
                                                               ending .duckdb or .db as DuckDB)

    >>> location("sqlite:////var/lineage/ledger.db").path
    PosixPath('/var/lineage/ledger.db')
    >>> location("host=db dbname=lineage").kind, location("mysql://h/db").kind
    ('postgres', 'unknown')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

POSTGRES_SCHEMES = ("postgresql", "postgres")
FILE_SCHEMES = ("sqlite", "duckdb")


@dataclass(frozen=True)
class Location:
    kind: str  # postgres | sqlite | duckdb | path | unknown
    text: str  # as given
    path: Path | None = None  # the file of sqlite, duckdb and path
    scheme: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    def warehouse_kind(self) -> str | None:
        """postgres or duckdb for a warehouse DSN (a plain path: by its suffix), else None."""
        if self.kind in ("postgres", "duckdb"):
            return self.kind
        if self.kind == "path" and (self.text.endswith((".duckdb", ".db")) or self.text == ":memory:"):
            return "duckdb"
        return None


def location(text: str | object) -> Location:
    text = str(text)
    if "://" not in text:
        if text.startswith(("duckdb:", "sqlite:")):  # duckdb:file.duckdb, duckdb::memory:
            scheme, rest = text.split(":", 1)
            return Location(scheme, text, Path(rest) if rest != ":memory:" else Path(":memory:"), scheme)
        if "=" in text:  # libpq's keyword/value form
            return Location("postgres", text, scheme="postgresql")
        return Location("path", text, Path(text))
    scheme = urlparse(text).scheme.lower()
    if scheme in POSTGRES_SCHEMES:
        return Location("postgres", text, scheme=scheme)
    if scheme in FILE_SCHEMES:
        rest = text.split("://", 1)[1]
        # sqlalchemy's spelling: three slashes and a relative path, four and an absolute one
        return Location(scheme, text, Path(rest[1:] if rest.startswith("/") else rest), scheme)
    return Location("unknown", text, scheme=scheme)


def file_url(scheme: str, path: str | Path) -> str:
    """The URL of a file store, the inverse of ``location``: ``sqlite:///`` + the path (absolute:
    four slashes)."""
    return f"{scheme}:///{path}"


def without_password(dsn: str) -> str:
    """A URL or DSN fit for an error message: the password never appears.

    >>> without_password("postgresql://app:s3cret@db/prod")
    'postgresql://app:***@db/prod'
    >>> without_password("host=db password=s3cret dbname=prod")
    'host=db password=*** dbname=prod'
    """
    parsed = urlparse(dsn)
    if parsed.password:
        return dsn.replace(f":{parsed.password}@", ":***@")
    return " ".join("password=***" if part.startswith("password=") else part for part in dsn.split())
