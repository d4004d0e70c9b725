"""Plain data that flows through the engine: facts about a statement and the decision on it.

Everything here is serialisable to JSON (``to_dict``) so the CLI, the ledger and the
OpenLineage facets all show the same thing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Action(str, enum.Enum):
    ALLOW = "allow"
    WARN = "warn"
    MASK = "mask"
    REQUIRE_APPROVAL = "require_approval"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def may_run(self) -> bool:
        return self in (Action.ALLOW, Action.WARN, Action.MASK)

    @classmethod
    def strictest(cls, actions) -> "Action":
        return max(actions, key=_RANK.__getitem__, default=cls.ALLOW)


_RANK = {Action.ALLOW: 0, Action.WARN: 1, Action.MASK: 2, Action.REQUIRE_APPROVAL: 3, Action.BLOCK: 4}


@dataclass(frozen=True)
class Finding:
    """One thing a rule noticed. ``action`` is filled by the engine from the policy."""

    rule: str
    message: str
    object: str | None = None
    action: Action | None = None
    default_action: Action | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "action": (self.action or self.default_action or Action.ALLOW).value,
            "message": self.message,
            "object": self.object,
        }
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class SchemaChange:
    """``change`` is one of dropped_table, dropped_object, truncated_table, renamed_table,
    replaced_table (CREATE OR REPLACE TABLE), dropped_column, added_column, renamed_column,
    retyped_column, not_null_added."""

    change: str
    table: str
    column: str | None = None
    new_name: str | None = None
    old_type: str | None = None
    new_type: str | None = None
    object_kind: str = "table"
    not_null: bool = False
    has_default: bool = False
    dbt_swap: bool = False
    cascade: bool = False  # DROP ... CASCADE: whatever depends on it goes too
    rewritten: bool = False  # ALTER COLUMN ... TYPE ... USING something other than the column cast to the new type

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, False)}


@dataclass(frozen=True)
class OpaquePart:
    """A part of a statement whose effect the analysis cannot see."""

    reason: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class RowChange:
    """An UPDATE or DELETE (or a MERGE action) and the rows it touches, as written.

    ``condition`` selects the rows (None: every row); it is a copy with tables qualified and
    columns as the statement spelled them. ``relations`` are the other relations the condition
    may read by name (``USING``, ``FROM``, MERGE's source): alias -> Table or derived table;
    ``ctes`` the WITH queries its names may refer to.
    Whether the condition filters anything is the rules' judgement (``lineage.decide.rules.row_filter``).
    """

    kind: str
    table: str
    target: str
    condition: Any = field(default=None, compare=False)
    relations: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    clause: str = "WHERE"
    ctes: tuple[tuple[str, Any], ...] = field(default=(), compare=False)  # WITH name AS (query) in scope


@dataclass(frozen=True)
class SettingChange:
    """A session or configuration setting a statement changes, in any spelling.

    ``values`` are the words or strings it is set to (PostgreSQL's own spelling, unquoted);
    None when it goes back to its default (``RESET``, ``TO DEFAULT``) and ``known`` is False
    when the analysis cannot tell the name or value (a computed ``set_config`` argument).
    ``how`` says which spelling did it (``SET LOCAL``, ``set_config``, ``ALTER ROLE``, ...).
    """

    name: str
    values: tuple[str, ...] | None
    how: str
    known: bool = True

    def describe(self) -> str:
        if not self.known:
            return f"{self.how} of a setting the analysis cannot read"
        if self.values is None:
            return f"{self.how} {self.name} to its default"
        if not self.values:  # a pragma function: PRAGMA enable_profiling
            return f"{self.how} {self.name}"
        return f"{self.how} {self.name} = {', '.join(self.values) or repr('')}"


@dataclass(frozen=True)
class Lineage:
    """Column lineage edges: target column -> {source column: transformation subtype}.

    Subtypes follow OpenLineage: IDENTITY, TRANSFORMATION, AGGREGATION.
    """

    edges: dict[str, dict[str, str]] = field(default_factory=dict)

    def sources(self) -> dict[str, list[str]]:
        return {target: sorted(sources) for target, sources in self.edges.items()}


@dataclass
class StatementFacts:
    """What one statement does, as far as the analysis can prove it."""

    index: int
    sql: str
    dialect: str
    kind: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    lineage: Lineage = field(default_factory=Lineage)
    output_columns: tuple[str, ...] = ()
    columns_read: dict[str, frozenset[str]] = field(default_factory=dict)
    star_reads: tuple[str, ...] = ()
    schema_changes: tuple[SchemaChange, ...] = ()
    opaque: tuple[OpaquePart, ...] = ()
    system_reads: tuple[str, ...] = ()
    row_changes: tuple[RowChange, ...] = ()
    settings: tuple[SettingChange, ...] = ()
    safety_disabled: tuple[str, ...] = ()
    privileges: tuple[dict[str, Any], ...] = ()
    copy_out: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()  # shell commands COPY ... FROM/TO PROGRAM runs on the database server
    files_read: tuple[str, ...] = ()  # files the database reads: COPY ... FROM '<file>', DuckDB's FROM 'data.csv'
    returning: tuple[str, ...] = ()
    calls: tuple[Any, ...] = ()  # lineage.decide.allowlist.Call: every function call, as the database resolves its name
    parse_error: str | None = None
    unsafe_text: str | None = None  # why the database would read the text differently (never run)
    lineage_complete: bool = True
    lineage_note: str | None = None
    expression: Any = field(default=None, repr=False, compare=False)
    # the statement as parsed, before qualification: the masking rewrite starts from it so the
    # SQL that runs keeps its own names and output columns (never mutated). None when the check
    # knew no masker would read it (the analysis then qualified the parse itself, no copy)
    statement: Any = field(default=None, repr=False, compare=False)

    @property
    def column_lineage(self) -> dict[str, list[str]]:
        return self.lineage.sources()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "column_lineage": self.column_lineage,
            "schema_changes": [change.to_dict() for change in self.schema_changes],
            "opaque": [part.to_dict() for part in self.opaque],
            "lineage_complete": self.lineage_complete,
        }


@dataclass(frozen=True)
class MaskedColumn:
    table: str
    column: str
    tags: tuple[str, ...]
    strategy: str

    @property
    def qualified(self) -> str:
        return f"{self.table}.{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.qualified,
            "table": self.table,
            "name": self.column,
            "tags": list(self.tags),
            "strategy": self.strategy,
        }


@dataclass(frozen=True)
class MaskResult:
    """What the masking step did to one statement: the rewritten SQL (or None when unchanged),
    the columns it masked, and its own findings (refusals when it cannot prove safety)."""

    sql: str | None
    masked_columns: tuple[MaskedColumn, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The engine's verdict on one statement.

    ``action`` is what the policy decides. ``effective_action`` is what happens: the same in
    enforce mode, always ``allow`` in audit mode (where ``sql`` is the original statement).
    """

    index: int
    action: Action
    effective_action: Action
    sql: str
    original_sql: str
    facts: StatementFacts
    findings: tuple[Finding, ...]
    masked_columns: tuple[MaskedColumn, ...]
    policy_version: str
    mode: str
    would_be_sql: str | None = None

    @property
    def may_run(self) -> bool:
        return self.effective_action.may_run

    def to_dict(self) -> dict[str, Any]:
        facts = self.facts
        out = {
            "index": self.index,
            "action": self.action.value,
            "effective_action": self.effective_action.value,
            "sql": self.sql,
            "kind": facts.kind,
            "reads": list(facts.reads),
            "writes": list(facts.writes),
            "column_lineage": facts.column_lineage,
            "masked_columns": [column.to_dict() for column in self.masked_columns],
            "findings": [finding.to_dict() for finding in self.findings],
            "schema_changes": [change.to_dict() for change in facts.schema_changes],
            "lineage_complete": facts.lineage_complete,
        }
        if self.would_be_sql is not None:
            out["would_be_sql"] = self.would_be_sql
        return out
