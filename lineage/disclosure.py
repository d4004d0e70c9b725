"""What a decision may show outside ``lineage check``: its findings and statement, literals as ``?``.

A finding can quote its statement (``WHERE ssn = '123-45-6789' OR TRUE is always true``) and a
statement's literals can be values of classified columns. Task logs, OpenLineage events, the
ledger, approval requests and chat notifications are read by many people, so they carry these:

    shown_statement(decision)  -> "DELETE FROM crm.customers WHERE ssn = '?' OR TRUE"
    shown_findings(decision)   -> (Finding("delete_without_where", "... (WHERE ssn = '?' OR TRUE is always true)"),)

The literals of an unparseable statement are not known for sure: there every quoted text and
number goes, except quoted names the statement itself uses.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from lineage.fingerprint import literal_values, normalize
from lineage.redact import scrub_literals, scrub_tree, scrub_values
from lineage.model import Decision, Finding


def shown_sql(expression: exp.Expression, dialect: str) -> str:
    """SQL of a part of a statement with every literal as ``?``, for messages that quote it.

    >>> from sqlglot import parse_one
    >>> shown_sql(parse_one("ssn = '431-29-7468' and id > 3"), "postgres")
    'ssn = ? AND id > ?'
    """
    hidden = expression.transform(lambda node: exp.var("?") if isinstance(node, exp.Literal) else node)
    return hidden.sql(dialect)


def shown_statement(decision: Decision) -> str:
    """The statement as its author wrote it, each literal as ``?`` (normalised when unparseable)."""
    dialect = decision.facts.dialect
    if decision.facts.kind == "unparseable":
        return normalize(decision.original_sql, dialect)[0]
    return scrub_literals(decision.original_sql, literal_values(decision.original_sql, dialect)) or ""


def shown_findings(decision: Decision) -> tuple[Finding, ...]:
    if not decision.findings:
        return ()
    dialect = decision.facts.dialect
    literals = literal_values(decision.original_sql, dialect) | literal_values(decision.sql, dialect)
    unparsed = decision.facts.kind == "unparseable"
    names = statement_names(decision) if unparsed else set()
    shown = []
    for finding in decision.findings:
        message = scrub_literals(finding.message, literals)
        if unparsed and finding.rule != "unsafe_text":  # that one names offsets and code points, never values
            message = scrub_values(message, names)
        detail = scrub_tree(finding.detail, literals) if finding.detail and literals else finding.detail
        shown.append(replace(finding, message=message, detail=detail))
    return tuple(shown)


def statement_names(decision: Decision) -> set[str]:
    """Tables and columns the statement names: quoted names that are not values."""
    facts = decision.facts
    names: set[str] = set()
    for table in (*facts.reads, *facts.writes):
        names.update(table.split("."))
    for columns in facts.columns_read.values():
        names.update(columns)
    names.update(column.split(".")[-1] for column in facts.output_columns)
    names.update(column.column for column in decision.masked_columns)
    return names
