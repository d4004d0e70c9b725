"""masking_refused: a statement the masking rewrite cannot prove safe for this identity.

    UPDATE crm.customers c SET city = city WHERE id = 1 RETURNING c.to_json     (alice: email, ssn masked for her)
    -> masking_refused (block): c.to_json is no column of analytics.crm.customers: PostgreSQL reads it as to_json() of the whole raw row

Reasons (``detail.reason``): unknown_columns, function, system_relation, introspection, whole_row,
opaque, unparseable, statistics, deny, dml_oracle, schema_change, ambiguous, hash_key, strategy,
not_understood, not_masked.
The findings come from the masking step (``lineage.mask.rewrite``), which the engine runs
once per statement; this function is the same check for callers using the rules alone, and
since such a caller does not run the rewritten SQL, a statement that needs masking is
refused here too (an engine built with ``masker=None`` fails closed, never runs it raw).
It cannot be lowered below block: the policy loader rejects such a guardrail entry, and
in audit mode it is recorded like every other finding.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def masking_refused(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    from lineage.mask.rewrite import mask_statement

    result = mask_statement(facts, context)
    yield from result.findings
    if not result.findings and (result.sql is not None or result.masked_columns):
        tables = sorted({column.table for column in result.masked_columns})
        yield Finding(
            "masking_refused",
            f"reads {', '.join(tables) or 'protected tables'} masked for this identity, but the masking rewrite is not applied here",
            tables[0] if tables else None,
            detail={"reason": "not_masked"},
        )
