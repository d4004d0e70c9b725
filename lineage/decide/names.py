"""Qualified names and the globs that policies use to select tables, columns and tags.

A table name is ``[database.]schema.table``; a policy pattern with fewer parts than
a name matches its trailing parts, so ``crm.customers`` matches
``analytics.crm.customers``. Matching is case-insensitive: policies are written by
people, and over-matching a protective rule is the safe direction.
"""

from __future__ import annotations

import fnmatch
import functools
import re

DBT_INTERMEDIATE_SUFFIXES = ("__dbt_tmp", "__dbt_backup")


class GlobError(ValueError):
    """A pattern that cannot be a table or tag glob."""


def split_name(name: str) -> tuple[str, ...]:
    return tuple(part for part in name.split("."))


def check_table_glob(pattern: str) -> str:
    """Validate a ``[database.]schema.table`` glob and return it unchanged."""
    parts = split_name(pattern)
    if not pattern or len(parts) > 3 or any(not part for part in parts):
        raise GlobError(
            f"{pattern!r} is not a table glob: use [database.]schema.table, each part non-empty "
            "(for example crm.customers, crm.*, *.raw_*)"
        )
    _check_brackets(pattern)
    return pattern


def check_tag_glob(pattern: str) -> str:
    """Validate a tag glob such as ``pii.*`` or ``confidential.salary``."""
    if not pattern or any(not part for part in pattern.split(".")) or " " in pattern:
        raise GlobError(f"{pattern!r} is not a tag glob: use dotted words such as pii.email or pii.*")
    _check_brackets(pattern)
    return pattern


def _check_brackets(pattern: str) -> None:
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                raise GlobError(f"{pattern!r} has a nested '[' in a character class")
            depth = 1
        elif char == "]" and depth:
            depth = 0
    if depth:
        raise GlobError(f"{pattern!r} has an unclosed '['")


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


def glob_match(pattern: str, value: str) -> bool:
    return _compiled(pattern).match(value.lower()) is not None


@functools.lru_cache(maxsize=65536)
def table_matches(pattern: str, name: str) -> bool:
    """True when the table glob selects the qualified table name.

    >>> table_matches("crm.*", "analytics.crm.customers")
    True
    >>> table_matches("crm.customers", "customers")
    False
    """
    pattern_parts = split_name(pattern)
    name_parts = split_name(name)
    if len(pattern_parts) > len(name_parts):
        return False
    tail = name_parts[len(name_parts) - len(pattern_parts):]
    return all(glob_match(p, n) for p, n in zip(pattern_parts, tail))


def any_table_matches(patterns, name: str) -> bool:
    return any(table_matches(pattern, name) for pattern in patterns)


def tag_matches(pattern: str, tag: str) -> bool:
    return glob_match(pattern, tag)


def table_part(name: str) -> str:
    return split_name(name)[-1]


def is_dbt_intermediate(name: str) -> bool:
    """dbt swaps a model in through ``x__dbt_tmp`` and ``x__dbt_backup`` relations."""
    return table_part(name).lower().endswith(DBT_INTERMEDIATE_SUFFIXES)


def dbt_logical_name(name: str) -> str:
    """``db.main.customers__dbt_tmp`` -> ``db.main.customers``; other names unchanged."""
    lowered = name.lower()
    for suffix in DBT_INTERMEDIATE_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def column_name(table: str, column: str) -> str:
    return f"{table}.{column}" if table else column
