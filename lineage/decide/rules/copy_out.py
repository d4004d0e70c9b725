"""copy_out: data leaving the database to a file or a program (COPY ... TO, EXPORT DATA, UNLOAD).

    COPY crm.customers TO '/tmp/customers.csv'
    -> copy_out (block): copies crm.customers out of the database

``COPY ... TO STDOUT`` hands the rows to the client as a SELECT does: it is not a finding here,
and an identity that reads classified data masked gets them masked.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def copy_out(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for table in facts.copy_out:
        yield Finding("copy_out", f"copies {table} out of the database", table)
