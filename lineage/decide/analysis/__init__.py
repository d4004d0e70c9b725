"""Static analysis of SQL with sqlglot: what each statement reads, writes and changes."""

from lineage.decide.analysis.facts import DEFAULT_BUDGET_SECONDS, analyze, analyze_statement
from lineage.decide.analysis.statements import DIALECTS, ParsedStatement, UnknownDialect, get_dialect, split_statements

__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "DIALECTS",
    "ParsedStatement",
    "UnknownDialect",
    "analyze",
    "analyze_statement",
    "get_dialect",
    "split_statements",
]
