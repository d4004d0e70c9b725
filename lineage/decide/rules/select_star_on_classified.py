"""select_star_on_classified: ``SELECT *`` pulls classified columns nobody named.

    SELECT * FROM crm.customers          (email: pii.email)
    -> select_star_on_classified (warn): SELECT * on crm.customers returns classified columns: email (pii.email)
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def select_star_on_classified(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for table in facts.star_reads:
        classified = context.classifier.classified_columns(table, context.catalog)
        if classified:
            listed = ", ".join(f"{column} ({'/'.join(tags)})" for column, tags in sorted(classified.items()))
            yield Finding("select_star_on_classified", f"SELECT * on {table} returns classified columns: {listed}", table)
