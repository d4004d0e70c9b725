"""Which tags a column carries, and whether an identity may see a tag raw.

Classifications come from the policy file and, for dbt projects, from column ``meta``;
both are merged here. Column keys may be globs (``*_email: pii.email``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Sequence

from lineage.decide.catalog import Catalog
from lineage.decide.names import dbt_logical_name, glob_match, table_matches, tag_matches


@dataclass(frozen=True)
class ClassificationEntry:
    table: str
    column: str
    tags: tuple[str, ...]
    origin: str = "policy"


class Classifier:
    def __init__(self, entries: Iterable[ClassificationEntry]):
        self.entries = tuple(entries)
        self._tags = functools.lru_cache(maxsize=65536)(self._compute_tags)
        self._table_entries = functools.lru_cache(maxsize=16384)(self._compute_table_entries)

    @classmethod
    def from_policy(cls, policy, extra: Iterable[ClassificationEntry] = ()) -> "Classifier":
        entries = [
            ClassificationEntry(item.table, column, (tags,) if isinstance(tags, str) else tuple(tags))
            for item in policy.classifications
            for column, tags in item.columns.items()
        ]
        return cls([*entries, *extra])

    def with_entries(self, extra: Iterable[ClassificationEntry]) -> "Classifier":
        return Classifier([*self.entries, *extra])

    def _compute_table_entries(self, table: str) -> tuple[ClassificationEntry, ...]:
        # dbt's swap relations (x__dbt_tmp, x__dbt_backup) hold x's rows: x's classification covers them
        logical = dbt_logical_name(table)
        return tuple(entry for entry in self.entries if table_matches(entry.table, table) or table_matches(entry.table, logical))

    def _compute_tags(self, table: str, column: str) -> tuple[str, ...]:
        tags: dict[str, None] = {}
        for entry in self._table_entries(table):
            if glob_match(entry.column, column):
                for tag in entry.tags:
                    tags.setdefault(tag, None)
        return tuple(tags)

    def tags(self, table: str, column: str) -> tuple[str, ...]:
        return self._tags(table, column)

    def table_entries(self, table: str) -> tuple[ClassificationEntry, ...]:
        """The entries whose table glob selects ``table`` (or, for a dbt swap name, its model)."""
        return self._table_entries(table)

    def is_classified_table(self, table: str) -> bool:
        return bool(self._table_entries(table))

    def classified_columns(self, table: str, catalog: Catalog | None = None, columns: Sequence[str] | None = None) -> dict[str, tuple[str, ...]]:
        """Classified columns of a table: from its known column list, else the literal keys."""
        entries = self._table_entries(table)
        if not entries:
            return {}
        if columns is None and catalog is not None:
            known = catalog.columns(table)
            columns = list(known) if known else None
        if columns is None:
            columns = [entry.column for entry in entries if not any(char in entry.column for char in "*?[")]
        out = {}
        for column in columns:
            tags = self.tags(table, column)
            if tags:
                out[column] = tags
        return out


def exempt(masking, principal: str, groups: tuple[str, ...], tag: str) -> bool:
    """True when ``unmasked_for`` lets this identity see values with ``tag`` raw."""
    for exemption in masking.unmasked_for:
        if not exemption.matches(principal, groups):
            continue
        if exemption.tags is None or any(tag_matches(pattern, tag) for pattern in exemption.tags):
            return True
    return False


@dataclass(frozen=True)
class ZoneBreach:
    """Raw values of ``tag`` written to ``table``, which none of the zones governing the tag allows."""

    tag: str
    table: str
    zones: tuple[int, ...]  # indexes into the policy's ``zones``
    allowed: tuple[str, ...]  # the table globs those zones allow
    where: str  # "zones[0]: pii.* may be written to raw.*, staging.*"


def _governing(zones, tag: str) -> list[tuple[int, object]]:
    return [(index, zone) for index, zone in enumerate(zones) if any(tag_matches(pattern, tag) for pattern in zone.tags)]


def zone_allows(zones, tag: str, table: str) -> bool | None:
    """None when no zone governs the tag; else whether raw values may be written to ``table``."""
    governing = _governing(zones, tag)
    if not governing:
        return None
    return any(table_matches(glob, table) for _, zone in governing for glob in zone.allowed)


def zone_breach(zones, tag: str, table: str) -> ZoneBreach | None:
    """The breach when raw ``tag`` values may not be written to ``table``; None when allowed or ungoverned.

    The one zone check: the engine's rule (one statement) and the dbt pre-flight (a DAG path) both ask it.

    >>> from types import SimpleNamespace as Zone
    >>> zone_breach([Zone(tags=["pii.*"], allowed=["raw.*", "staging.*"])], "pii.email", "marts.contacts").where
    'zones[0]: pii.* may be written to raw.*, staging.*'
    """
    if zone_allows(zones, tag, table) is not False:
        return None
    governing = _governing(zones, tag)
    where = "; ".join(f"zones[{index}]: {', '.join(zone.tags)} may be written to {', '.join(zone.allowed) or 'nowhere'}" for index, zone in governing)
    return ZoneBreach(tag, table, tuple(index for index, _ in governing), tuple(glob for _, zone in governing for glob in zone.allowed), where)


def propagate(classifier: Classifier, lineage_maps: Iterable[dict[str, dict[str, str]]]) -> Classifier:
    """Carry tags along column lineage: a column computed from a classified column carries its tags.

    ``lineage_maps`` are statements' ``facts.lineage.edges`` (target column -> sources), in the
    order the statements ran, so tags flow through chains (raw -> staging -> mart).

    >>> propagate(Classifier([ClassificationEntry("raw.c", "email", ("pii.email",))]),
    ...           [{"db.mart.m.contact": {"db.raw.c.email": "IDENTITY"}}]).tags("db.mart.m", "contact")
    ('pii.email',)
    """
    current = classifier
    for edges in lineage_maps:
        derived = []
        for target, sources in edges.items():
            target_table, _, target_column = target.rpartition(".")
            if not target_table:
                continue
            tags: dict[str, None] = {}
            for source in sources:
                source_table, _, source_column = source.rpartition(".")
                for tag in current.tags(source_table, source_column):
                    tags.setdefault(tag, None)
            if tags and set(tags) - set(current.tags(target_table, target_column)):
                derived.append(ClassificationEntry(target_table, target_column, tuple(tags), origin="lineage"))
        if derived:
            current = current.with_entries(derived)
    return current
