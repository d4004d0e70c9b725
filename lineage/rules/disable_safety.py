"""disable_safety: switching off triggers, row-level security or its policies.

    ALTER TABLE crm.customers DISABLE ROW LEVEL SECURITY
    -> disable_safety (block): switches off a safety mechanism: ALTER TABLE crm.customers DISABLE ROW LEVEL SECURITY
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.rules.context import RuleContext


def disable_safety(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for text in facts.safety_disabled:
        target = facts.writes[0] if facts.writes else None
        yield Finding("disable_safety", f"switches off a safety mechanism: {' '.join(text.split())[:200]}", target)
