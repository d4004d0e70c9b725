"""``lineage.decide.verdict`` beyond its doctests: what a finding without an action means, which
finding wins, and when audit mode still refuses to run a statement as written."""

from __future__ import annotations

from lineage.decide.verdict import revised, verdict
from lineage.model import Action, Decision, Finding, MaskedColumn, StatementFacts


def finding(rule: str, action: Action | None) -> Finding:
    return Finding(rule, f"{rule} noticed", "t", action=action)


def test_a_finding_without_an_action_blocks():
    assert verdict([finding("unknown_function", None)], rewritten=False, audit=False) == (Action.BLOCK, Action.BLOCK)


def test_the_strictest_finding_wins_and_masking_never_lowers_it():
    findings = [finding("a", Action.WARN), finding("b", Action.REQUIRE_APPROVAL), finding("c", Action.ALLOW)]
    assert verdict(findings, rewritten=True, audit=False) == (Action.REQUIRE_APPROVAL, Action.REQUIRE_APPROVAL)
    assert verdict([finding("a", Action.WARN)], rewritten=True, audit=False) == (Action.MASK, Action.MASK)
    assert verdict([], rewritten=False, audit=False) == (Action.ALLOW, Action.ALLOW)


def decision(mode: str, unsafe_text: str | None = None) -> Decision:
    facts = StatementFacts(1, "select email from t", "postgres", "select", unsafe_text=unsafe_text)
    return Decision(1, Action.ALLOW, Action.ALLOW, "select email from t", "select email from t", facts, (), (), "v1", mode)


def test_revised_masks_a_statement_given_masked_columns():
    masked = revised(decision("enforce"), [], [MaskedColumn("t", "email", ("pii.email",), "email")])
    assert (masked.action, masked.effective_action) == (Action.MASK, Action.MASK)


def test_audit_mode_does_not_run_text_the_server_reads_differently():
    found = [finding("unsafe_text", Action.BLOCK)]
    assert revised(decision("audit"), found).effective_action == Action.ALLOW
    assert revised(decision("audit", unsafe_text="a dollar quote the server ends elsewhere"), found).effective_action == Action.BLOCK
    assert revised(decision("audit"), found, unsafe_text=True).effective_action == Action.BLOCK
