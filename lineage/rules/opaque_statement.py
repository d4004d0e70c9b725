"""opaque_statement: SQL whose effect the analysis cannot see, so cannot prove safe.

    DO $$ BEGIN EXECUTE 'drop table crm.customers'; END $$
    -> opaque_statement (block): anonymous code block: the SQL it runs is hidden in a string
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.rules.context import RuleContext


def opaque_statement(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for part in facts.opaque:
        yield Finding("opaque_statement", part.detail, facts.writes[0] if facts.writes else None, detail={"reason": part.reason})
