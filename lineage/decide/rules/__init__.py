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

from lineage.decide.rule_catalog import RULE_SPECS
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
from lineage.decide.rules.masked_overwrite import masked_overwrite
from lineage.decide.rules.masking_refused import masking_refused
from lineage.decide.rules.opaque_statement import opaque_statement
from lineage.decide.rules.pii_to_unapproved_zone import pii_to_unapproved_zone
from lineage.decide.rules.privilege_change import privilege_change
from lineage.decide.rules.rename import rename
from lineage.decide.rules.replace_table import replace_table
from lineage.decide.rules.rewrite_column import rewrite_column
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


_FUNCTIONS: dict[str, RuleFunction] = {function.__name__: function for function in (
    drop_table, drop_object, drop_cascade, truncate, replace_table, drop_column, alter_column_type, rewrite_column, rename, add_not_null_without_default, delete_without_where, update_without_where, privilege_change, disable_safety, session_setting, lexing_setting, system_catalog_write, catalog_view, jit_registry, copy_out, copy_program, file_read, opaque_statement, unparseable, unsafe_text, select_star_on_classified, pii_to_unapproved_zone, masked_overwrite, masking_refused, lineage_incomplete, check_limits,
)}
if set(_FUNCTIONS) != set(RULE_SPECS):  # a rule without its spec, or the other way round
    raise RuntimeError(f"lineage.decide.rules: rule functions and rule_catalog differ: {sorted(set(_FUNCTIONS) ^ set(RULE_SPECS))}")

RULES: dict[str, Rule] = {
    name: Rule(name, _FUNCTIONS[name], spec.default, spec.summary, spec.floor, spec.reported_by_masker)
    for name, spec in RULE_SPECS.items()
}

__all__ = ["RULES", "Rule", "RuleContext"]
