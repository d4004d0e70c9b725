"""system_catalog_write: a statement that changes the system catalogs changes what every name means.

    UPDATE pg_catalog.pg_class SET relname = 'loot' WHERE oid = 'crm.customers'::regclass
    -> system_catalog_write (block): writes the system catalog pg_catalog.pg_class: ...

Renaming a protected table or its schema through ``pg_class``/``pg_namespace`` takes it out of
its classification, and deleting a row of ``pg_class`` drops a table without a DROP: no guardrail
can judge that as DML on an ordinary table. Any DML or DDL whose target is in ``pg_catalog``,
``information_schema`` or ``pg_toast``, in DuckDB's ``system`` catalog, or whose name starts with
``pg_`` (PostgreSQL searches ``pg_catalog`` before the path's schemas, so an unqualified
``pg_class`` is the catalog's) is refused; the policy cannot allow it.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext

SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
SYSTEM_DATABASES = frozenset({"system"})  # DuckDB's built-in catalog


def is_system_catalog(name: str) -> bool:
    """``pg_catalog.pg_class``, ``public.pg_class``, ``system.main.t``, ``information_schema`` -> True."""
    parts = [part.lower() for part in name.split(".") if part]
    if not parts:
        return False
    if any(part in SYSTEM_SCHEMAS for part in parts) or parts[-1].startswith("pg_"):
        return True
    return len(parts) == 3 and parts[0] in SYSTEM_DATABASES


def system_catalog_write(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    targets = [*facts.writes, *(change.table for change in facts.schema_changes)]
    seen: set[str] = set()
    for name in targets:
        if name in seen or not is_system_catalog(name):
            continue
        seen.add(name)
        yield Finding(
            "system_catalog_write",
            f"writes the system catalog {name}: changing the catalogs renames, moves or drops relations behind "
            "every guardrail and classification; it is never governed SQL (no policy key allows it)",
            name,
        )
