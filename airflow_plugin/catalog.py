"""The catalog a task's connection is analysed against: none, a JSON file, or read live from the database.

    load_catalog(settings, hook, target, reads)   # [lineage_governance] catalog = live
    -> Catalog read over the hook's own connection (its standing login, ungoverned), each
       catalog query stamped with the task's identity comment and recorded in the ledger

An unreadable catalog file raises ``GovernanceConfigError`` (the task fails, naming the setting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineage.decide.catalog import Catalog, CatalogError
from lineage.identity.run_identity import RunIdentity

from airflow_plugin.connections import Target
from airflow_plugin.failures import GovernanceConfigError
from airflow_plugin.scopes import STANDING_CREDENTIALS, raw_connection, scope
from airflow_plugin.settings import Settings


def load_catalog(settings: Settings, hook, target: Target, reads: "CatalogReads | None" = None) -> Catalog:
    """The catalog a connection's statements are analysed against (``[lineage_governance] catalog``).
    A live read is stamped and recorded through ``reads`` (so ``lineage correlate`` attributes it)."""
    choice = settings.catalog
    if choice == "none":
        return Catalog(dialect=target.dialect or "postgres", default_database=target.database)
    if choice != "live":
        try:
            return Catalog.from_json_file(choice, dialect=target.dialect or "postgres", default_database=target.database)
        except CatalogError as error:
            raise GovernanceConfigError(f"[lineage_governance] catalog: {error}") from None
    if target.dialect not in ("postgres", "redshift", "duckdb"):
        return Catalog(dialect=target.dialect or "postgres", default_database=target.database)
    with scope(STANDING_CREDENTIALS), raw_connection(hook) as connection:
        cursor = connection.cursor()
        try:
            executor = _CursorExecutor(cursor, reads)
            catalog = Catalog.from_duckdb(executor) if target.dialect == "duckdb" else Catalog.from_postgres(executor)
        finally:
            cursor.close()
    return catalog


@dataclass(frozen=True)
class CatalogReads:
    """The plugin's own catalog reads on a task's connection: stamped with the task's identity
    comment and recorded in the ledger as ``session`` events (purpose ``catalog``), as
    ``lineage.adapters.dbapi`` does, so ``lineage correlate`` attributes them to the task's run."""

    identity: RunIdentity
    policy_version: str
    ledger: Any
    dialect: str
    comment: bool = True

    def prepare(self, sql: str) -> str:
        from lineage.identity.comment import identity_comment
        from lineage.fingerprint import normalize

        if self.ledger is not None and hasattr(self.ledger, "record_event"):
            text, fingerprint = normalize(sql, self.dialect)
            self.ledger.record_event("session", self.identity, {"purpose": "catalog", "fingerprint": fingerprint, "sql": text})
        return f"{sql.strip()} {identity_comment(self.identity, self.policy_version)}" if self.comment else sql


class _CursorExecutor:
    """``execute(sql) -> cursor`` over any DB-API cursor (psycopg2's execute returns None)."""

    def __init__(self, cursor, reads: CatalogReads | None = None):
        self.cursor = cursor
        self.reads = reads

    def execute(self, sql: str):
        self.cursor.execute(self.reads.prepare(sql) if self.reads is not None else sql)
        return self.cursor
