"""Which tables are protected for one identity, and how each classified column is masked.

A table is *protected* when it has classified columns this identity may not see raw (one
tag it is not exempt from is enough). For each such column the first masking rule (policy
order) whose tags select one of those tags decides the strategy; a ``deny`` rule selecting
any of them wins over order; no rule means ``masking.default_strategy``. Plans are cached per
(policy, catalog version, principal, groups, dialect), so a warm statement costs dictionary
lookups.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from lineage.mask.install import KeyFunction
from lineage.mask.keys import KeyUnavailable, derive_key, load_key
from lineage.mask.strategies import KEYED, MaskError, mask_expression
from lineage.decide.names import dbt_logical_name, glob_match, split_name, table_matches, tag_matches


@dataclass(frozen=True)
class ColumnMask:
    column: str
    tags: tuple[str, ...]
    strategy: str
    args: dict[str, Any]
    key_tag: str


@dataclass
class TableMask:
    """One protected table: its full column list (None when unknown) and its masked columns."""

    name: str
    columns: tuple[tuple[str, exp.DataType | None], ...] | None
    masked: dict[str, ColumnMask]  # lower-cased column name -> mask
    # classified columns the policy names (literally) that the catalog's list lacks, lower-cased:
    # the list is stale or wrong, so a statement naming one is refused rather than read raw
    unlisted: frozenset[str] = frozenset()
    _built: dict[str, exp.Expression] = field(default_factory=dict, repr=False)

    @property
    def keyed(self) -> bool:
        """Whether some column's mask needs the key (its derived table then carries key material)."""
        return any(mask.strategy in KEYED for mask in self.masked.values())

    @property
    def denied(self) -> set[str]:
        return {name for name, mask in self.masked.items() if mask.strategy == "deny"}

    def column_names(self) -> set[str]:
        return {name.lower() for name, _ in self.columns or ()}


class MaskPlanner:
    """Per identity: tags seen raw, protected tables, mask expressions (built once, copied on use)."""

    def __init__(self, context, dialect: str, policy_dir: Path | None):
        self.policy = context.policy
        self.masking = context.policy.masking
        self.classifier = context.classifier
        self.catalog = context.catalog
        self.dialect = dialect
        self.policy_dir = policy_dir
        self._raw: dict[str, bool] = {}
        self._sees_raw = context.sees_raw
        self._tables: dict[str, TableMask | None] = {}
        self._by_last_part: dict[str, list[tuple[str, ...]]] | None = None
        self._master: bytes | None = None
        self._key_error: str | None = None
        self._lock = threading.Lock()
        # keys from the environment or a file stand in the SQL (as HMAC pads); installed keys do not
        self.keys_in_sql = self.masking.hash_key is None or getattr(self.masking.hash_key, "database", None) is None
        self.masks_anything = any(
            not self.sees_raw(tag) for entry in self.classifier.entries for tag in entry.tags
        )

    # -- identity --------------------------------------------------------------------------

    def sees_raw(self, tag: str) -> bool:
        found = self._raw.get(tag)
        if found is None:
            found = self._raw[tag] = self._sees_raw(tag)
        return found

    # -- tables ----------------------------------------------------------------------------

    def candidates(self, parts: tuple[str, ...]) -> list[str]:
        """Qualified names a table reference may denote.

        A qualified reference is the table it names. An unqualified one is resolved by the
        session's search path at run time, which the rewrite cannot see, so every catalog
        table of that name is a candidate (qualify names to avoid masking a namesake); when
        the catalog knows no table of that name, so is every classified table it may be.
        """
        catalog = self.catalog
        resolved = catalog.resolve(parts)
        if len(parts) > 1:
            if resolved is not None:
                return [".".join(resolved)]
            return [".".join(self._with_defaults(parts))]
        names = [".".join(resolved)] if resolved is not None else [".".join(self._with_defaults(parts))]
        namesakes = self._same_last_part(parts[-1])
        for found in namesakes:
            name = ".".join(found)
            if name not in names:
                names.append(name)
        if resolved is None and not namesakes:
            last = parts[-1].lower()
            for entry in self.classifier.entries:
                pattern = split_name(entry.table)
                if glob_match(pattern[-1], last) or glob_match(pattern[-1], dbt_logical_name(last)):
                    names.append(".".join(pattern[:-1] + (parts[-1],)))
        return names

    def _with_defaults(self, parts: tuple[str, ...]) -> tuple[str, ...]:
        if len(parts) == 1 and self.catalog.default_schema:
            parts = (self.catalog.default_schema,) + parts
        if len(parts) == 2 and self.catalog.default_database:
            parts = (self.catalog.default_database,) + parts
        return parts

    def _same_last_part(self, name: str) -> list[tuple[str, ...]]:
        if self._by_last_part is None:
            index: dict[str, list[tuple[str, ...]]] = {}
            for parts in self.catalog.tables:
                index.setdefault(parts[-1].lower(), []).append(parts)
            self._by_last_part = index
        return self._by_last_part.get(name.lower(), [])

    def table(self, name: str) -> TableMask | None:
        """The mask of a protected table, or None when this identity reads it raw."""
        if name in self._tables:
            return self._tables[name]
        plan = self._plan_table(name)
        with self._lock:
            self._tables[name] = plan
        return plan

    def _plan_table(self, name: str) -> TableMask | None:
        if not self.classifier.is_classified_table(name):
            return None
        known = self.catalog.columns(name)
        if known is None:
            # unknown columns: protected if any entry could hide a masked tag
            entries = self.classifier.table_entries(name)
            if any(not self.sees_raw(tag) for entry in entries for tag in entry.tags):
                masked = {}
                for entry in entries:
                    if not any(char in entry.column for char in "*?["):
                        mask = self._column_mask(entry.column, entry.tags)
                        if mask is not None:
                            masked[entry.column.lower()] = mask
                return TableMask(name, None, masked)
            return None
        masked = {}
        for column in known:
            tags = self.classifier.tags(name, column)
            mask = self._column_mask(column, tags) if tags else None
            if mask is not None:
                masked[column.lower()] = mask
        unlisted = frozenset(self._unlisted(name, known))
        if not masked and not unlisted:
            return None
        columns = tuple((column, _parse_type(column_type, self.catalog.dialect)) for column, column_type in known.items())
        return TableMask(name, columns, masked, unlisted)

    def _unlisted(self, name: str, known) -> set[str]:
        """Classified columns this identity reads masked that ``known`` lacks, where the policy names
        both the table and the column literally (a glob's tables need not all have the column)."""
        listed = {column.lower() for column in known}
        return {
            entry.column.lower()
            for entry in self.classifier.entries
            if not any(char in entry.table + entry.column for char in "*?[") and table_matches(entry.table, name)
            and entry.column.lower() not in listed and self._column_mask(entry.column, entry.tags) is not None
        }

    def column_mask(self, column: str, tags: tuple[str, ...]) -> ColumnMask | None:
        """How this identity sees a column with these tags (None: raw); used by the dbt plan too."""
        return self._column_mask(column, tags)

    def derived_key(self, mask: ColumnMask) -> bytes:
        """The derived key of a keyed mask (raises KeyUnavailable); the master key stays here."""
        key = self._key(mask)
        if isinstance(key, KeyFunction):
            raise KeyUnavailable("the key is installed in the database (masking.hash_key.database), so there is no key to hand out")
        return key

    def _column_mask(self, column: str, tags: tuple[str, ...]) -> ColumnMask | None:
        hidden = tuple(tag for tag in tags if not self.sees_raw(tag))
        if not hidden:
            return None
        rules = self.masking.rules
        for rule in rules:
            if rule.strategy == "deny" and any(tag_matches(pattern, tag) for pattern in rule.tags for tag in hidden):
                return ColumnMask(column, hidden, "deny", {}, hidden[0])
        for rule in rules:
            for tag in hidden:
                if any(tag_matches(pattern, tag) for pattern in rule.tags):
                    return ColumnMask(column, hidden, rule.strategy, dict(rule.args), tag)
        return ColumnMask(column, hidden, self.masking.default_strategy, {}, hidden[0])

    # -- expressions -----------------------------------------------------------------------

    def mask_for(self, table: TableMask, column: str, dtype: exp.DataType | None, reference: exp.Expression) -> exp.Expression:
        """The mask of ``column`` applied to ``reference`` (raises MaskError / KeyUnavailable)."""
        mask = table.masked[column.lower()]
        template = table._built.get(column.lower())
        if template is None:
            key = self._key(mask) if mask.strategy in KEYED else None
            template = mask_expression(mask.strategy, exp.column("__lineage_value__"), dtype, self.dialect, mask.args, key)
            table._built[column.lower()] = template
        masked = template.copy()
        if _is_placeholder(masked):
            return reference.copy()
        for node in [node for node in masked.find_all(exp.Column) if _is_placeholder(node)]:  # no Python call per node
            node.replace(reference.copy())
        return masked

    def _key(self, mask: ColumnMask) -> bytes | KeyFunction:
        source = self.masking.hash_key
        if source is not None and source.database is not None:
            if self.dialect != "postgres":
                raise KeyUnavailable(
                    f"masking.hash_key.database keeps the key in PostgreSQL; {self.dialect} has no roles or SECURITY DEFINER "
                    "functions to keep it from the session, so use masking.hash_key env or file there"
                )
            return KeyFunction(source.database, mask.strategy, mask.key_tag)
        if self._master is None:
            if self._key_error is not None:
                raise KeyUnavailable(self._key_error)
            try:
                self._master = load_key(self.masking.hash_key, self.policy_dir)
            except KeyUnavailable as error:
                self._key_error = str(error)
                raise
        return derive_key(self._master, mask.strategy, mask.key_tag)

    def identifier(self, name: str) -> exp.Identifier:
        """A catalog column name as this dialect needs it: quoted unless it is safe bare."""
        return _identifier(name, self.dialect)


@functools.lru_cache(maxsize=65536)
def _quoted(name: str, dialect: str) -> bool:
    return bool(Dialect.get_or_raise(dialect).quote_identifier(exp.to_identifier(name), identify=False).args.get("quoted"))


def _identifier(name: str, dialect: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=_quoted(name, dialect))


def _is_placeholder(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) and node.name == "__lineage_value__"


def _parse_type(text: str | None, dialect: str) -> exp.DataType | None:
    if not text or text.upper() in ("UNKNOWN", "USER-DEFINED", "ARRAY"):
        return None
    try:
        dtype = exp.DataType.build(text, dialect=dialect)
    except Exception:
        return None
    if dtype.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.USERDEFINED):
        return None
    return dtype


# -- the cache ------------------------------------------------------------------------------

_PLANNERS: "weakref.WeakKeyDictionary[Any, dict[tuple, MaskPlanner]]" = weakref.WeakKeyDictionary()
_PLANNERS_LOCK = threading.Lock()
_PER_CLASSIFIER = 256


def masks_for(context, dialect: str) -> bool:
    """Whether the identity of ``context`` reads some classified data masked."""
    return planner_for(context, dialect).masks_anything


def planner_for(context, dialect: str) -> MaskPlanner:
    policy_dir = getattr(context, "policy_dir", None)
    identity = context.identity
    key = (id(context.policy), context.catalog.version, id(context.catalog), identity.principal, identity.groups, dialect, policy_dir)
    with _PLANNERS_LOCK:
        planners = _PLANNERS.setdefault(context.classifier, {})
        planner = planners.get(key)
        if planner is not None and planner.policy is context.policy and planner.catalog is context.catalog:
            return planner
    planner = MaskPlanner(context, dialect, policy_dir)
    with _PLANNERS_LOCK:
        if len(planners) >= _PER_CLASSIFIER:
            planners.pop(next(iter(planners)))
        planners[key] = planner
    return planner


__all__ = ["ColumnMask", "KeyUnavailable", "MaskError", "MaskPlanner", "TableMask", "masks_for", "planner_for"]
