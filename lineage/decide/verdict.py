"""What a statement's findings add up to: the action they call for and the one carried out.

The engine decides every statement with ``verdict``; whoever changes a decision's findings
afterwards (the dbt pre-flight's DAG findings, the dbt record of what ran, a session's own
settings) gets its actions from ``revised``, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from lineage.model import Action, Decision, Finding, MaskedColumn


def verdict(findings: Iterable[Finding], rewritten: bool, audit: bool) -> tuple[Action, Action]:
    """``(action, effective_action)``: the strictest finding wins (a finding without an action
    blocks), a rewritten statement is at least masked, and audit mode runs the statement as written.

    >>> verdict([Finding("delete_without_where", "no WHERE", "t", action=Action.BLOCK)], rewritten=False, audit=True)
    (<Action.BLOCK: 'block'>, <Action.ALLOW: 'allow'>)
    >>> verdict([], rewritten=True, audit=False)
    (<Action.MASK: 'mask'>, <Action.MASK: 'mask'>)
    """
    action = Action.strictest(finding.action or Action.BLOCK for finding in findings)
    if rewritten and action.rank < Action.MASK.rank:
        action = Action.MASK  # the SQL that runs is rewritten, even if it reads no masked column
    return action, Action.ALLOW if audit else action


def runs_as_written(mode: str, unsafe_text: bool) -> bool:
    """Audit mode runs what it records, except text the database reads differently from the analysis."""
    return mode == "audit" and not unsafe_text


def revised(decision: Decision, findings: Iterable[Finding], masked_columns: Iterable[MaskedColumn] | None = None,
            unsafe_text: bool = False) -> Decision:
    """``decision`` with these findings (and masked columns), its actions recomputed by ``verdict``;
    ``unsafe_text``: what was found means the server would read the text differently (never run).

    >>> from lineage.model import StatementFacts
    >>> facts = StatementFacts(1, "delete from t", "postgres", "delete")
    >>> held = Decision(1, Action.BLOCK, Action.ALLOW, "delete from t", "delete from t", facts, (), (), "v1", "audit")
    >>> revised(held, []).action, revised(held, []).effective_action
    (<Action.ALLOW: 'allow'>, <Action.ALLOW: 'allow'>)
    """
    findings = tuple(findings)
    masked = decision.masked_columns if masked_columns is None else tuple(masked_columns)
    rewritten = bool(masked) or decision.sql != decision.original_sql or decision.would_be_sql is not None
    audit = runs_as_written(decision.mode, decision.facts.unsafe_text or unsafe_text)
    action, effective = verdict(findings, rewritten, audit)
    return replace(decision, findings=findings, masked_columns=masked, action=action, effective_action=effective)
