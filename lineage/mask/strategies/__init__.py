"""The masking strategies: one file each, a pure function named like its file.

Each function takes the column reference, the column's type (``exp.DataType`` or None when
the catalog does not know it) and the SQL dialect, plus the strategy's arguments from the
policy, and returns the sqlglot expression that replaces the column at scan time. Keyed
strategies also get ``key`` (bytes, derived per strategy and tag from ``masking.hash_key``).
Every strategy keeps NULL as NULL except ``nullify``/``deny`` (always NULL).

    >>> from sqlglot import exp
    >>> mask_expression("show_last", exp.column("ssn"), None, "postgres", {"chars": 4}).sql("postgres")
    "CASE WHEN LENGTH(CAST(ssn AS TEXT)) <= 4 THEN REPEAT('*', LENGTH(CAST(ssn AS TEXT))) ELSE REPEAT('*', LENGTH(CAST(ssn AS TEXT)) - 4) || RIGHT(CAST(ssn AS TEXT), 4) END"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sqlglot import exp

from lineage.mask.strategies._common import MaskError
from lineage.mask.strategies.constant import constant
from lineage.mask.strategies.custom import custom
from lineage.mask.strategies.date_trunc import date_trunc
from lineage.mask.strategies.deny import deny
from lineage.mask.strategies.email import email
from lineage.mask.strategies.hash import hash as hash_
from lineage.mask.strategies.nullify import nullify
from lineage.mask.strategies.partial import partial
from lineage.mask.strategies.pseudonym import pseudonym
from lineage.mask.strategies.redact import redact
from lineage.mask.strategies.show_first import show_first
from lineage.mask.strategies.show_last import show_last
from lineage.mask.strategies.type_default import type_default

# argument -> (accepted types, required)
Arguments = dict[str, tuple[tuple[type, ...], bool]]


@dataclass(frozen=True)
class Strategy:
    name: str
    function: Callable[..., exp.Expression]
    summary: str
    keeps_type: str
    arguments: Arguments = field(default_factory=dict)
    keyed: bool = False


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (
        Strategy("nullify", nullify, "NULL of the column's type", "yes"),
        Strategy("type_default", type_default, "the type's neutral value: 'XXXX', 0, 1900-01-01, false", "yes"),
        Strategy("constant", constant, "a fixed value, cast to the column's type", "yes", {"value": ((str, int, float, bool), True)}),
        Strategy("redact", redact, "letters to x/X, digits to 0, the format stays", "text"),
        Strategy("show_first", show_first, "first N characters, the rest '*'", "text", {"chars": ((int,), True)}),
        Strategy("show_last", show_last, "last N characters, the rest '*'", "text", {"chars": ((int,), True)}),
        Strategy("partial", partial, "prefix characters, a fixed pad, suffix characters", "text",
                 {"prefix": ((int,), True), "pad": ((str,), False), "suffix": ((int,), True)}),
        Strategy("email", email, "'*****@domain' (or '*****@*****')", "text", {"mask_domain": ((bool,), False)}),
        Strategy("hash", hash_, "keyed HMAC-SHA256, hex", "text", {"length": ((int,), False)}, keyed=True),
        Strategy("date_trunc", date_trunc, "date or timestamp truncated to year or month", "yes", {"part": ((str,), True)}),
        Strategy("pseudonym", pseudonym, "deterministic keyed stand-in, stable per input", "text; integers stay integers",
                 {"prefix": ((str,), False)}, keyed=True),
        Strategy("custom", custom, "an allow-listed expression over `value`", "as written", {"expression": ((str,), True)}),
        Strategy("deny", deny, "any statement referencing the column is refused", "n/a"),
    )
}

STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
KEYED: frozenset[str] = frozenset(name for name, strategy in STRATEGIES.items() if strategy.keyed)


def mask_expression(
    name: str,
    column: exp.Expression,
    dtype: exp.DataType | None,
    dialect: str,
    args: dict[str, Any] | None = None,
    key: bytes | None = None,
) -> exp.Expression:
    """The mask for one column; raises MaskError when the strategy cannot mask it safely."""
    strategy = STRATEGIES.get(name)
    if strategy is None:
        raise MaskError(f"unknown masking strategy {name!r}")
    kwargs = dict(args or {})
    if strategy.keyed:
        if not key:
            raise MaskError(f"strategy {name} needs a key (masking.hash_key) and none is available")
        kwargs["key"] = key
    return strategy.function(column, dtype, dialect, **kwargs)


__all__ = ["KEYED", "MaskError", "STRATEGIES", "STRATEGY_NAMES", "Strategy", "mask_expression"]
