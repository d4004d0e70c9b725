"""Guardrail rules: one file each, a pure function ``rule(facts, context) -> findings``.

Each rule's action comes from the policy (``guardrails``), optionally per environment and
table glob; without an entry the default below applies. A finding may carry its own
stricter default (``privilege_change`` TO PUBLIC blocks, a widening type change only warns).
A rule with a ``floor`` cannot be set below it (``masking_refused``: block). A rule
``reported_by_masker`` gets its findings from the engine's masking step, which runs once per
statement, so the engine does not run its function again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from lineage.model import Action, Finding, StatementFacts
from lineage.rules.add_not_null_without_default import add_not_null_without_default
from lineage.rules.alter_column_type import alter_column_type
from lineage.rules.context import RuleContext
from lineage.rules.copy_out import copy_out
from lineage.rules.delete_without_where import delete_without_where
from lineage.rules.disable_safety import disable_safety
from lineage.rules.drop_column import drop_column
from lineage.rules.drop_table import drop_table
from lineage.rules.lineage_incomplete import lineage_incomplete
from lineage.rules.masking_refused import masking_refused
from lineage.rules.opaque_statement import opaque_statement
from lineage.rules.pii_to_unapproved_zone import pii_to_unapproved_zone
from lineage.rules.privilege_change import privilege_change
from lineage.rules.rename import rename
from lineage.rules.select_star_on_classified import select_star_on_classified
from lineage.rules.truncate import truncate
from lineage.rules.unparseable import unparseable
from lineage.rules.unsafe_text import unsafe_text
from lineage.rules.update_without_where import update_without_where

RuleFunction = Callable[[StatementFacts, RuleContext], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    function: RuleFunction
    default: Action
    summary: str
    floor: Action | None = None
    reported_by_masker: bool = False


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("drop_table", drop_table, Action.BLOCK, "DROP TABLE / VIEW / SCHEMA / DATABASE"),
        Rule("truncate", truncate, Action.BLOCK, "TRUNCATE"),
        Rule("drop_column", drop_column, Action.REQUIRE_APPROVAL, "a column is dropped (ALTER ... DROP COLUMN, CREATE OR REPLACE without it)"),
        Rule("alter_column_type", alter_column_type, Action.REQUIRE_APPROVAL, "a column's type changes (narrowing; widening only warns)"),
        Rule("rename", rename, Action.REQUIRE_APPROVAL, "a table or column is renamed"),
        Rule("add_not_null_without_default", add_not_null_without_default, Action.REQUIRE_APPROVAL, "NOT NULL column added without a default, or SET NOT NULL"),
        Rule("delete_without_where", delete_without_where, Action.BLOCK, "DELETE without WHERE or with an always-true WHERE"),
        Rule("update_without_where", update_without_where, Action.BLOCK, "UPDATE without WHERE or with an always-true WHERE"),
        Rule("privilege_change", privilege_change, Action.REQUIRE_APPROVAL, "GRANT / REVOKE / roles (WITH GRANT OPTION or TO PUBLIC: block)"),
        Rule("disable_safety", disable_safety, Action.BLOCK, "triggers, row-level security or its policies switched off"),
        Rule("copy_out", copy_out, Action.BLOCK, "COPY ... TO a file or program, EXPORT DATA, UNLOAD"),
        Rule("opaque_statement", opaque_statement, Action.BLOCK, "SQL whose effect cannot be analysed (DO, PREPARE/EXECUTE, cursors, functions off the allowlist)"),
        Rule("unparseable", unparseable, Action.BLOCK, "SQL the parser cannot read"),
        Rule("unsafe_text", unsafe_text, Action.BLOCK, "text the database would read differently from the analysis (NUL, control characters, U&\"...\" escapes)",
             floor=Action.BLOCK),
        Rule("select_star_on_classified", select_star_on_classified, Action.WARN, "SELECT * over a table with classified columns"),
        Rule("pii_to_unapproved_zone", pii_to_unapproved_zone, Action.BLOCK, "raw classified values written outside their tag's zones"),
        Rule("masking_refused", masking_refused, Action.BLOCK, "masking cannot prove the statement safe for this identity (functions off the allowlist, opaque SQL, deny columns, ...)",
             floor=Action.BLOCK, reported_by_masker=True),
        Rule("lineage_incomplete", lineage_incomplete, Action.ALLOW, "column lineage incomplete (time budget, unknown columns); recorded only"),
    )
}

__all__ = ["RULES", "Rule", "RuleContext"]
