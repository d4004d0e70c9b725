"""disable_safety: switching off triggers, row-level security, its policies, or the statement log.

    ALTER TABLE crm.customers DISABLE ROW LEVEL SECURITY
    -> disable_safety (block): switches off a safety mechanism: ALTER TABLE crm.customers DISABLE ROW LEVEL SECURITY
    SELECT set_config('row_security', 'off', false)
    -> disable_safety (block): switches off a safety mechanism: set_config row_security = off

Safety settings count in every spelling (SET, SET LOCAL, set_config, UPDATE pg_settings,
ALTER ROLE/DATABASE/SYSTEM ... SET, a connection's options) and with every value the server
reads as off (``row_security = of``, ``no``, ``0``, ``f``): a safety setting is harmless only
with a value on the allowlist (``lineage.decide.analysis.settings_allowlist``). The statement-log
settings (``log_statement``, ``log_min_duration_statement``, ``log_destination``, ...) and
``application_name`` count too: they hide the session from, or misattribute it in, the log
``lineage correlate`` reads.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.analysis.settings_allowlist import family, is_harmless
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def disable_safety(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for text in facts.safety_disabled:
        target = facts.writes[0] if facts.writes else None
        yield Finding("disable_safety", f"switches off a safety mechanism: {' '.join(text.split())[:200]}", target)
    for change in facts.settings:
        if family(facts.dialect, change.name) == "safety" and not is_harmless(facts.dialect, change):
            yield Finding("disable_safety", f"switches off a safety mechanism: {change.describe()}", None,
                          detail={"setting": change.name, "how": change.how})
