"""Guardrail rules: one file each, a pure function ``rule(facts, context) -> findings``.

Each rule's action comes from the policy (``guardrails``), optionally per environment and
table glob; without an entry the default below applies. A finding may carry its own
stricter default (``privilege_change`` TO PUBLIC blocks, a widening type change only warns).
A rule with a ``floor`` cannot be set below it (``masking_refused``, ``unsafe_text``, ``lexing_setting``, ``jit_registry``, ``check_limits``,
``system_catalog_write``, ``copy_program``, ``file_read``: block). A rule
``reported_by_masker`` gets its findings from the engine's masking step, which runs once per
statement, so the engine does not run its function again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from lineage.model import Action, Finding, StatementFacts
from lineage.decide.rules.add_not_null_without_default import add_not_null_without_default
from lineage.decide.rules.alter_column_type import alter_column_type
from lineage.decide.rules.catalog_view import catalog_view
from lineage.decide.rules.check_limits import check_limits
from lineage.decide.rules.context import RuleContext
from lineage.decide.rules.copy_out import copy_out
from lineage.decide.rules.copy_program import copy_program
from lineage.decide.rules.delete_without_where import delete_without_where
from lineage.decide.rules.disable_safety import disable_safety
from lineage.decide.rules.drop_cascade import drop_cascade
from lineage.decide.rules.drop_column import drop_column
from lineage.decide.rules.drop_object import drop_object
from lineage.decide.rules.drop_table import drop_table
from lineage.decide.rules.file_read import file_read
from lineage.decide.rules.jit_registry import jit_registry
from lineage.decide.rules.lexing_setting import lexing_setting
from lineage.decide.rules.lineage_incomplete import lineage_incomplete
from lineage.decide.rules.masking_refused import masking_refused
from lineage.decide.rules.opaque_statement import opaque_statement
from lineage.decide.rules.pii_to_unapproved_zone import pii_to_unapproved_zone
from lineage.decide.rules.privilege_change import privilege_change
from lineage.decide.rules.rename import rename
from lineage.decide.rules.select_star_on_classified import select_star_on_classified
from lineage.decide.rules.session_setting import session_setting
from lineage.decide.rules.system_catalog_write import system_catalog_write
from lineage.decide.rules.truncate import truncate
from lineage.decide.rules.unparseable import unparseable
from lineage.decide.rules.unsafe_text import unsafe_text
from lineage.decide.rules.update_without_where import update_without_where

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
        Rule("drop_table", drop_table, Action.BLOCK, "DROP TABLE / VIEW / MATERIALIZED VIEW / SCHEMA / DATABASE, DROP OWNED"),
        Rule("drop_object", drop_object, Action.REQUIRE_APPROVAL, "DROP of any other kind: TYPE, DOMAIN, FUNCTION, SEQUENCE, INDEX, EXTENSION, ..."),
        Rule("drop_cascade", drop_cascade, Action.BLOCK, "DROP ... CASCADE: dependents the catalog cannot list go too"),
        Rule("truncate", truncate, Action.BLOCK, "TRUNCATE"),
        Rule("drop_column", drop_column, Action.REQUIRE_APPROVAL, "a column is dropped (ALTER ... DROP COLUMN, CREATE OR REPLACE without it)"),
        Rule("alter_column_type", alter_column_type, Action.REQUIRE_APPROVAL, "a column's type changes (narrowing; widening only warns)"),
        Rule("rename", rename, Action.REQUIRE_APPROVAL, "a table or column is renamed"),
        Rule("add_not_null_without_default", add_not_null_without_default, Action.REQUIRE_APPROVAL, "NOT NULL column added without a default, or SET NOT NULL"),
        Rule("delete_without_where", delete_without_where, Action.BLOCK, "DELETE (or MERGE ... DELETE) whose condition filters nothing"),
        Rule("update_without_where", update_without_where, Action.BLOCK, "UPDATE (or MERGE ... UPDATE) whose condition filters nothing"),
        Rule("privilege_change", privilege_change, Action.REQUIRE_APPROVAL, "GRANT / REVOKE / roles, changing the role (WITH GRANT OPTION or TO PUBLIC: block)"),
        Rule("disable_safety", disable_safety, Action.BLOCK, "triggers, row-level security, its policies or the statement log switched off"),
        Rule("session_setting", session_setting, Action.BLOCK, "a setting not on the list of harmless settings (policy: session_settings.allowed)"),
        Rule("lexing_setting", lexing_setting, Action.BLOCK, "a setting that changes how the server reads SQL text, or one the analysis cannot name",
             floor=Action.BLOCK),
        Rule("system_catalog_write", system_catalog_write, Action.BLOCK, "DML or DDL on the system catalogs (pg_catalog, information_schema, any pg_* name, DuckDB's system)",
             floor=Action.BLOCK),
        Rule("catalog_view", catalog_view, Action.BLOCK, "CREATE VIEW over system catalogs (pg_authid, ...): the view reads them with its owner's rights"),
        Rule("jit_registry", jit_registry, Action.BLOCK, "a statement reads or writes the JIT registry (lineage_jit)", floor=Action.BLOCK),
        Rule("copy_out", copy_out, Action.BLOCK, "COPY ... TO a file or program, EXPORT DATA, UNLOAD"),
        Rule("copy_program", copy_program, Action.BLOCK, "COPY ... FROM/TO PROGRAM: a shell command on the database server", floor=Action.BLOCK),
        Rule("file_read", file_read, Action.BLOCK, "COPY ... FROM a file, DuckDB's FROM 'data.csv': files off allowlist.files, the masking key file always",
             floor=Action.BLOCK),
        Rule("opaque_statement", opaque_statement, Action.BLOCK, "SQL whose effect cannot be analysed (DO, PREPARE/EXECUTE, cursors, functions off the allowlist)"),
        Rule("unparseable", unparseable, Action.BLOCK, "SQL the parser cannot read"),
        Rule("unsafe_text", unsafe_text, Action.BLOCK, "text the database would read differently from the analysis (NUL, control characters, U&\"...\" escapes)",
             floor=Action.BLOCK),
        Rule("select_star_on_classified", select_star_on_classified, Action.WARN, "SELECT * over a table with classified columns"),
        Rule("pii_to_unapproved_zone", pii_to_unapproved_zone, Action.BLOCK, "raw classified values written outside their tag's zones"),
        Rule("masking_refused", masking_refused, Action.BLOCK, "masking cannot prove the statement safe for this identity (functions off the allowlist, opaque SQL, deny columns, ...)",
             floor=Action.BLOCK, reported_by_masker=True),
        Rule("lineage_incomplete", lineage_incomplete, Action.ALLOW, "column lineage incomplete (time budget, unknown columns); recorded only"),
        Rule("check_limits", check_limits, Action.BLOCK, "SQL over the policy's size limit, or whose check ran out of time (policy limits)",
             floor=Action.BLOCK),
    )
}

__all__ = ["RULES", "Rule", "RuleContext"]
