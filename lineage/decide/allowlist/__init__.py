"""Allowlists, not denylists: what a statement may call and read besides user tables.

The data lives in one file per kind beside this module (``builtins.yaml``: the built-in value
functions and the system relations of each dialect, each entry tested on the real database by
``tests/decide/test_allowlist.py``); the policy adds to it (``allowlist.functions``,
``allowlist.relations``). The analysis records every call as the database will resolve it
(``Call``); the rules and the masking rewrite ask here whether it is known:

    >>> refused_calls((Call("lower"), Call("query_to_xml"), Call("Cast", syntax=True)), "postgres")
    [Call(name='query_to_xml', syntax=False, quoted=False)]
    >>> refused_relation(("pg_catalog", "pg_stat_activity"), "postgres")
    'pg_catalog.pg_stat_activity'

Whatever is not listed is refused by whoever asks, naming the policy key that allows it.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

import yaml

DATA = Path(__file__).resolve().parent / "builtins.yaml"
FUNCTIONS_KEY = "allowlist.functions"
RELATIONS_KEY = "allowlist.relations"
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


class Call(NamedTuple):
    """A function call as the database resolves its name: lower case unless quoted, ``schema.name``
    when qualified; or (``syntax``) the sqlglot class of an operator or SQL syntax form. A quoted
    name is never SQL syntax (``"trim"(x)`` calls a function named trim, which may be a user's)."""

    name: str
    syntax: bool = False
    quoted: bool = False

    def shown(self) -> str:
        return f"{self.name} (SQL syntax)" if self.syntax else f"{self.name}()"


@dataclass(frozen=True)
class Builtins:
    functions: frozenset[str]  # names of value functions, lower case
    effects: frozenset[str]  # known functions that are no value functions (set_config, pg_sleep), lower case
    keywords: frozenset[str]  # SQL syntax written like a call (CAST(...)), lower case
    syntax: frozenset[str]  # sqlglot expression class names
    relations: tuple[str, ...]  # schema.name globs, lower case
    known_dialect: bool


@functools.lru_cache(maxsize=None)
def _data() -> dict:
    # libyaml when installed: the same data in a tenth of the time (every process that decides loads it)
    return yaml.load(DATA.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=None)
def builtins(dialect: str) -> Builtins:
    data = _data()
    section = data.get(dialect) or {}
    names: set[str] = set()
    for key in ("immutable", "reviewed", "consistent", "macros", "table", "catalog", "aliases"):
        names.update(name.lower() for name in section.get(key) or ())
    return Builtins(
        frozenset(names),
        frozenset(name.lower() for name in section.get("effects") or ()),
        frozenset(name.lower() for name in section.get("keywords") or ()),
        frozenset(data.get("syntax") or ()),
        tuple(glob.lower() for glob in section.get("relations") or ()),
        bool(section),
    )


def function_known(
    call: Call, dialect: str, allowed: Iterable[str] = (), values_only: bool = True, overloads: Mapping[str, tuple[str, ...]] | None = None
) -> bool:
    """Whether a named call (``lower``, ``pg_catalog.lower``, ``crm.normalize``) is a known value
    function: built in (unqualified, or in pg_catalog on PostgreSQL) or listed by the policy
    (by the name the database resolves: lower case unless created quoted). With ``values_only``
    False, built-in functions whose effect is known but that are no value functions count too
    (``set_config``: the settings rules judge it). An unqualified built-in name that ``overloads``
    (``lineage.decide.allowlist.overloads``) finds outside pg_catalog may resolve to that function:
    known only when the policy lists each such ``schema.name``."""
    if overloads and not call.syntax and call.name in overloads:
        return all(f"{schema}.{call.name}" in allowed for schema in overloads[call.name])
    if call.name in allowed:
        return True
    schema, _, bare = call.name.rpartition(".")
    if schema and not (schema == "pg_catalog" and dialect == "postgres"):
        return False
    known = builtins(dialect)
    if not values_only and bare in known.effects:
        return True
    return bare in known.functions or (not call.quoted and not schema and bare in known.keywords)


def refused_calls(
    calls: Iterable[Call], dialect: str, allowed: Iterable[str] = (), values_only: bool = True, overloads: Mapping[str, tuple[str, ...]] | None = None
) -> list[Call]:
    """The calls that are neither built-in value functions nor allowed by the policy (with
    ``values_only`` False: nor built-in functions of known effect); see ``function_known``."""
    known = builtins(dialect)
    extra = frozenset(allowed)
    out = []
    for call in calls:
        if call.syntax:
            if call.name not in known.syntax:
                out.append(call)
        elif not function_known(call, dialect, extra, values_only, overloads):
            out.append(call)
    return out


def system_relation(parts: tuple[str, ...], dialect: str) -> str | None:
    """``schema.name`` of a system relation, or None for a user relation.

    PostgreSQL searches pg_catalog before the search path, so an unqualified ``pg_*`` name is
    taken for the catalog's (a user table of that name is shadowed by a catalog one anyway).
    """
    lowered = tuple(part.lower() for part in parts)
    if len(lowered) >= 2 and lowered[-2] in SYSTEM_SCHEMAS:
        return f"{lowered[-2]}.{lowered[-1]}"
    if len(lowered) == 1 and lowered[0].startswith("pg_"):
        return f"pg_catalog.{lowered[0]}"
    return None


def refused_relation(parts: tuple[str, ...], dialect: str, allowed: Iterable[str] = ()) -> str | None:
    """The system relation ``parts`` names when it is not on the allowlist, else None."""
    name = system_relation(parts, dialect)
    if name is None:
        return None
    globs = builtins(dialect).relations + tuple(glob.lower() for glob in allowed)
    if any(fnmatch.fnmatchcase(name, glob) for glob in globs):
        return None
    return name


__all__ = ["Builtins", "Call", "FUNCTIONS_KEY", "RELATIONS_KEY", "builtins", "function_known", "refused_calls", "refused_relation", "system_relation"]
