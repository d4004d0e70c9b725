"""alter_column_type: changing a column's type; narrowing can fail or lose data, widening is safe.

    ALTER TABLE crm.customers ALTER COLUMN salary TYPE smallint    (was numeric(12,2))
    -> alter_column_type (require_approval): narrows salary of crm.customers from numeric(12,2) to SMALLINT
    ALTER TABLE crm.customers ALTER COLUMN age TYPE bigint         (was integer)
    -> alter_column_type (warn): widens age of crm.customers from integer to BIGINT
"""

from __future__ import annotations

from typing import Iterator

from sqlglot import exp
from sqlglot.errors import ParseError

from lineage.model import Action, Finding, StatementFacts
from lineage.decide.rules.context import RuleContext

_INTEGER_WIDTH = {
    exp.DataType.Type.TINYINT: 8,
    exp.DataType.Type.SMALLINT: 16,
    exp.DataType.Type.INT: 32,
    exp.DataType.Type.BIGINT: 64,
    exp.DataType.Type.INT128: 128,
    exp.DataType.Type.DECIMAL: 1000,
}
_FLOAT_WIDTH = {exp.DataType.Type.FLOAT: 32, exp.DataType.Type.DOUBLE: 64}


def alter_column_type(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.schema_changes:
        if change.change != "retyped_column":
            continue
        verdict = type_change(change.old_type, change.new_type, facts.dialect)
        subject = f"{change.column} of {change.table} from {change.old_type or 'an unknown type'} to {change.new_type}"
        if verdict == "widening":
            yield Finding("alter_column_type", f"widens {subject}", f"{change.table}.{change.column}", default_action=Action.WARN, detail={"change": verdict})
        else:
            yield Finding("alter_column_type", f"{'narrows' if verdict == 'narrowing' else 'changes the type of'} {subject}", f"{change.table}.{change.column}", detail={"change": verdict})


def type_change(old: str | None, new: str | None, dialect: str) -> str:
    """``widening``, ``narrowing`` or ``unknown`` (unknown is treated like narrowing)."""
    if not old or not new:
        return "unknown"
    try:
        before = exp.DataType.build(old, dialect=dialect)
        after = exp.DataType.build(new, dialect=dialect)
    except (ParseError, ValueError):
        return "unknown"
    if before == after:
        return "widening"
    if before.this in exp.DataType.TEXT_TYPES and after.this in exp.DataType.TEXT_TYPES:
        old_length, new_length = _length(before), _length(after)
        if new_length is None:
            return "widening"
        return "widening" if old_length is not None and new_length >= old_length else "narrowing"
    if before.this in _INTEGER_WIDTH and after.this in _INTEGER_WIDTH:
        if after.this == exp.DataType.Type.DECIMAL or before.this == exp.DataType.Type.DECIMAL:
            return _decimal_change(before, after)
        return "widening" if _INTEGER_WIDTH[after.this] >= _INTEGER_WIDTH[before.this] else "narrowing"
    if before.this in _FLOAT_WIDTH and after.this in _FLOAT_WIDTH:
        return "widening" if _FLOAT_WIDTH[after.this] >= _FLOAT_WIDTH[before.this] else "narrowing"
    if before.this in (exp.DataType.Type.SMALLINT, exp.DataType.Type.INT) and after.this == exp.DataType.Type.DOUBLE:
        return "widening"
    if before.this == exp.DataType.Type.DATE and after.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ):
        return "widening"
    if before.this == exp.DataType.Type.TIMESTAMP and after.this == exp.DataType.Type.TIMESTAMPTZ:
        return "widening"
    return "narrowing"


def _length(data_type: exp.DataType) -> int | None:
    params = data_type.expressions
    if not params:
        return None
    try:
        return int(params[0].name)
    except (TypeError, ValueError):
        return None


def _precision(data_type: exp.DataType) -> tuple[int, int] | None:
    if data_type.this != exp.DataType.Type.DECIMAL:
        widths = {exp.DataType.Type.TINYINT: 3, exp.DataType.Type.SMALLINT: 5, exp.DataType.Type.INT: 10, exp.DataType.Type.BIGINT: 19, exp.DataType.Type.INT128: 39}
        return widths[data_type.this], 0
    params = data_type.expressions
    if not params:
        return None
    try:
        precision = int(params[0].name)
        scale = int(params[1].name) if len(params) > 1 else 0
    except (TypeError, ValueError):
        return None
    return precision, scale


def _decimal_change(before: exp.DataType, after: exp.DataType) -> str:
    old, new = _precision(before), _precision(after)
    if new is None:
        return "widening"
    if old is None:
        return "narrowing"
    old_integer_digits, new_integer_digits = old[0] - old[1], new[0] - new[1]
    return "widening" if new_integer_digits >= old_integer_digits and new[1] >= old[1] else "narrowing"
