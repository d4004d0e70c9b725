"""unsafe_text: text the database would read differently from the analysis is never run.

    select email, ssn from crm.customers\\x00 where id = 1
    -> unsafe_text (block): a NUL character (U+0000) at offset 36: the database driver would
       cut the statement there and run only what precedes it

What the analysis approved would not be what runs (libpq cuts at a NUL; PostgreSQL reads
``U&"\\0073sn"`` as ``ssn``), so no policy can allow it and audit mode does not let it through
either (see ``lineage.decide.analysis.text``).
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def unsafe_text(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if facts.unsafe_text:
        yield Finding("unsafe_text", facts.unsafe_text, None)
