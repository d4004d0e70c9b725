"""How much SQL one check reads and how long it may take; over either, the SQL is refused.

    limits = CheckLimits.from_policy(policy)      # the policy's `limits` (1 MiB, 5 s by default)
    limits.size_problem("select 1")               -> None
    clock = limits.clock(); ...; clock.check()    # raises CheckTooSlow once the budget is spent

A check is parse, analysis, rules and masking of one text (a file, a task's SQL, a dbt model).
Text over ``max_sql_bytes`` is refused unread. A check still running after ``max_check_seconds``
is stopped where it is (``lineage.decide.deadline``; the clock is also read between steps) and the
text is refused. Neither is waved through: a statement the analysis could not finish is a
statement nobody proved safe. Each refusal names the policy key that moves the limit. What
stands for refused text in the ledger, the events and the message is ``stand_in``: its size and
sha256, never its text (which would cost another parse, and may hold values).
"""

from __future__ import annotations

import hashlib
import time
from lineage.decide.analysis.kinds import Kind
from dataclasses import dataclass

DEFAULT_MAX_SQL_BYTES = 1024 * 1024
DEFAULT_MAX_CHECK_SECONDS = 5.0
OVER_LIMITS = Kind.OVER_LIMITS  # the statement kind of refused text


class CheckTooSlow(BaseException):
    """The check spent its time budget. A BaseException: analysis code that catches Exception
    to carry on must not swallow it (``lineage.decide.deadline`` raises it wherever the check is)."""


@dataclass(frozen=True)
class CheckLimits:
    max_sql_bytes: int = DEFAULT_MAX_SQL_BYTES
    max_check_seconds: float = DEFAULT_MAX_CHECK_SECONDS

    @classmethod
    def from_policy(cls, policy) -> "CheckLimits":
        limits = getattr(policy, "limits", None)
        if limits is None:
            return cls()
        return cls(limits.max_sql_bytes, limits.max_check_seconds)

    def size_problem(self, sql: str) -> str | None:
        """Why ``sql`` is too large to check, or None."""
        if len(sql) * 4 <= self.max_sql_bytes:  # no UTF-8 character is longer: no need to encode
            return None
        size = len(sql.encode("utf-8", "surrogatepass"))
        if size <= self.max_sql_bytes:
            return None
        return (f"{size:,} bytes of SQL, over the limit of {self.max_sql_bytes:,} (policy limits.max_sql_bytes); "
                "refused unread: split it, or raise the limit")

    def clock(self) -> "Clock":
        return Clock(self.max_check_seconds)


class Clock:
    """The time budget of one check."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.perf_counter()
        self.deadline = self.started + seconds

    def check(self, step: str = "") -> None:
        """Raise ``CheckTooSlow`` when the budget is spent (between steps; ``deadline`` stops a step)."""
        if time.perf_counter() > self.deadline:
            raise CheckTooSlow(self.reason(step))

    def reason(self, step: str = "") -> str:
        spent = time.perf_counter() - self.started
        where = f" (at {step})" if step else ""
        return (f"the check took {spent:.1f} s{where}, over its budget of {self.seconds:g} s (policy limits.max_check_seconds); "
                "refused: a statement the analysis could not finish is not proven safe; simplify or split it, or raise the budget")


def stand_in(sql: str) -> str:
    """What stands for refused text: a comment with its size and sha256."""
    data = sql.encode("utf-8", "surrogatepass")
    return f"/* {len(data):,} bytes of SQL refused unchecked by lineage-governance, sha256:{hashlib.sha256(data).hexdigest()} */"
