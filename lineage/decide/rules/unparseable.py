"""unparseable: SQL the parser cannot read is refused, never waved through.

    SELEC * FRM crm.customers
    -> unparseable (block): cannot parse the statement: not a SQL statement (parsed as Alias)
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import Kind


def unparseable(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if facts.kind == Kind.UNPARSEABLE and not facts.unsafe_text:  # unsafe_text reports those
        yield Finding("unparseable", f"cannot parse the statement: {facts.parse_error}", None)
