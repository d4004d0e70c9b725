"""opaque_statement: SQL whose effect the analysis cannot see, so cannot prove safe.

    DO $$ BEGIN EXECUTE 'drop table crm.customers'; END $$
    -> opaque_statement (block): anonymous code block: the SQL it runs is hidden in a string
    SELECT crosstab('select ...')
    -> opaque_statement (block): crosstab() is not a known value function: ... allowlist.functions

A function is known when it is a built-in value function of the dialect
(``lineage/decide/allowlist/builtins.yaml``) or the policy lists it (``allowlist.functions``); any
other may read tables, files or statement texts the analysis never sees.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.allowlist import FUNCTIONS_KEY, builtins, refused_calls
from lineage.decide.allowlist.overloads import overloaded_call_message
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def opaque_statement(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    target = facts.writes[0] if facts.writes else None
    for part in facts.opaque:
        yield Finding("opaque_statement", part.detail, target, detail={"reason": part.reason})
    if not facts.calls or not builtins(facts.dialect).known_dialect:
        return  # without a list for the dialect, only masked identities are held to one (masking_refused)
    overloads = context.catalog.function_overloads
    for call in refused_calls(facts.calls, facts.dialect, context.policy.allowlist.functions, values_only=False, overloads=overloads):
        yield Finding("opaque_statement", unknown_call_message(call, overloads), target, detail={"reason": "unknown_function", "function": call.name})


def unknown_call_message(call, overloads=None) -> str:
    if overloads and call.name in overloads:
        return overloaded_call_message(call, overloads[call.name])
    if call.syntax:
        return f"{call.name} is SQL syntax the analysis does not know: it cannot prove what it reads"
    return (
        f"{call.shown()} is not a known value function: the analysis cannot see what it reads or changes; "
        f"if it only computes a value from its arguments, list {call.name!r} under {FUNCTIONS_KEY} in the policy"
    )

