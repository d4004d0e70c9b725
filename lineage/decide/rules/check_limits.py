"""check_limits: SQL larger than the policy's limit, or whose check ran out of time, is refused.

    <2 MiB of SQL>
    -> check_limits (block): 2,097,152 bytes of SQL, over the limit of 1,048,576 (policy limits.max_sql_bytes); ...

The engine sets the statement's kind to ``over_limits`` and its reason (``lineage.decide.limits``);
this rule turns it into the finding. It cannot be lowered: what was not analysed is not safe.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.limits import OVER_LIMITS
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def check_limits(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if facts.kind == OVER_LIMITS:
        yield Finding("check_limits", facts.parse_error or "over the check's limits", None)
