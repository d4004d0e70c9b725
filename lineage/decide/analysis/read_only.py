"""Whether running a statement again can change nothing: a query that writes nothing, hides no
part of itself and calls only built-in functions whose effect is known (value functions,
``pg_sleep``; ``nextval`` only leaves a gap, as sequences do anyway). What is not positively
understood counts as changing state, a user's function included (the policy may allowlist it to
run, not to be repeated blind).

    >>> from lineage.decide.analysis import analyze_statement, split_statements
    >>> from lineage.decide.catalog import Catalog
    >>> facts = lambda sql: analyze_statement(split_statements(sql, "postgres")[0], "postgres", Catalog(dialect="postgres"))
    >>> read_only(facts("select pg_sleep(5)")), read_only(facts("select refresh_totals()")), read_only(facts("insert into t values (1)"))
    (True, False, False)
"""

from __future__ import annotations

from lineage.decide.allowlist import refused_calls
from lineage.model import StatementFacts
from lineage.decide.analysis.kinds import QUERIES



def read_only(facts: StatementFacts) -> bool:
    return (
        facts.kind in QUERIES
        and not facts.writes
        and not facts.row_changes
        and not facts.opaque
        and not facts.settings
        and not facts.parse_error
        and not facts.unsafe_text
        and not refused_calls(facts.calls, facts.dialect, values_only=False)
    )
