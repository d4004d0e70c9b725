"""builtin_overloads: built-in function names that also name a function outside pg_catalog.

    rows [("lower", "public"), ("normalize_email", "crm")]  ->  {"lower": ("public",)}

PostgreSQL resolves an unqualified call among every function of that name on the search path
and picks the best match for the argument types: ``public.lower(varchar)`` wins over
``pg_catalog.lower(text)`` for a varchar argument (CVE-2018-1058), so such a name no longer
denotes the built-in. The governed connection reads these overloads once, with the catalog
(``lineage.decide.catalog``); ``function_known`` then refuses unqualified calls of such a name
unless the policy lists every overload (``public.lower``) under ``allowlist.functions``.
"""

from __future__ import annotations

from typing import Iterable

from lineage.decide.allowlist import FUNCTIONS_KEY, builtins

POSTGRES_QUERY = """
    select distinct p.proname, n.nspname
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname not in ('pg_catalog', 'information_schema')
    order by 1, 2
"""


def builtin_overloads(rows: Iterable[tuple[str, str]], dialect: str = "postgres") -> dict[str, tuple[str, ...]]:
    known = builtins(dialect)
    names = known.functions | known.effects
    found: dict[str, list[str]] = {}
    for name, schema in rows:
        if name in names:
            found.setdefault(name, []).append(schema)
    return {name: tuple(schemas) for name, schemas in found.items()}


def overloaded_call_message(call, schemas: tuple[str, ...]) -> str:
    """Why an unqualified call of an overloaded built-in name is refused, and how to allow it."""
    where = ", ".join(f"{schema}.{call.name}" for schema in schemas)
    return (
        f"{call.name}() is a built-in name that this database also has outside pg_catalog ({where}), which PostgreSQL "
        f"may pick instead of the built-in for some argument types; write pg_catalog.{call.name}() to mean the built-in, "
        f"or, if {where} only computes a value from its arguments, list {where} under {FUNCTIONS_KEY} in the policy"
    )
