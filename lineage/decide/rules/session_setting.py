"""session_setting: a setting that is not on the list of settings known to be harmless.

    SET jit_provider = 'llvmjit'
    -> session_setting (block): SET jit_provider = llvmjit: not a setting known to be harmless;
       allow it with the policy's session_settings.allowed

The list is data (``lineage.decide.analysis.settings_allowlist``, per dialect); the policy adds names
or globs under ``session_settings.allowed``. Role, safety and lexing settings have their own
rules (``privilege_change``, ``disable_safety``, ``lexing_setting``) and are never allowed here.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.analysis.settings_allowlist import family, is_harmless
from lineage.model import Finding, StatementFacts
from lineage.decide.names import glob_match
from lineage.decide.rules.context import RuleContext


def session_setting(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    allowed = context.policy.session_settings.allowed

    def listed(name: str) -> bool:
        return any(glob_match(pattern, name) for pattern in allowed)

    for change in facts.settings:
        if family(facts.dialect, change.name) != "other" or is_harmless(facts.dialect, change, listed):
            continue
        yield Finding(
            "session_setting",
            f"{change.describe()}: not a setting (or value) known to be harmless; allow it with the policy's session_settings.allowed",
            None,
            detail={"setting": change.name, "how": change.how},
        )
