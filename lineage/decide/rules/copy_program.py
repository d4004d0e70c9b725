"""copy_program: ``COPY ... FROM PROGRAM`` / ``TO PROGRAM`` runs a shell command on the database server.

    COPY public.loot FROM PROGRAM 'psql -c "select ssn from crm.customers"'
    -> copy_program (block): COPY ... PROGRAM runs the shell command 'psql -c ...' on the database server ...

What the command does (a query through ``psql`` included) is never seen by the analysis, the
guardrails or the masking: it is refused always, and the policy cannot allow it.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def copy_program(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for command in facts.programs:
        shown = command if len(command) <= 120 else command[:117] + "..."
        yield Finding(
            "copy_program",
            f"COPY ... PROGRAM runs the shell command {shown!r} on the database server: what it does, queries "
            "included, is not governed; load through COPY ... FROM STDIN instead (no policy key allows it)",
            None,
        )
