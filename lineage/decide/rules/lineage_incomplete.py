"""lineage_incomplete: column lineage could not be traced in full (time budget, unknown columns).

    SELECT * FROM unknown_table
    -> lineage_incomplete (allow): SELECT * over a table the catalog does not describe: its columns are unknown

Recorded so the gap is visible; table-level lineage still holds.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import Kind


def lineage_incomplete(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if not facts.lineage_complete and facts.lineage_note and facts.kind != Kind.UNPARSEABLE:
        yield Finding("lineage_incomplete", facts.lineage_note, None)
