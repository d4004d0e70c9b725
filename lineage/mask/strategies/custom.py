"""custom: an expression of the policy's own, over the column named ``value``, built only from
an allow-list of plain functions (no subqueries, no other columns, no unkeyed hashes).

    custom(name text, expression="left(value, 1) || '.'")  ->  CASE WHEN name IS NULL THEN NULL ELSE LEFT(name, 1) || '.' END
    'Alice' -> 'A.'

``check_expression`` runs when the policy loads, so a bad expression is a policy error
(file, line, key), not a surprise at run time. An expression that hands the value back
unchanged (``value``, ``lower(value)``, ``value || ''``, a CASE returning it) is rejected.
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from lineage.mask.strategies._common import MaskError, present

PLACEHOLDER = "value"

ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.DataType, exp.DataTypeParam, exp.Var,
    exp.Cast, exp.TryCast,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Not, exp.And, exp.Or, exp.Like, exp.ILike, exp.Between,
    exp.Case, exp.If,
    exp.Lower, exp.Upper, exp.Initcap, exp.Left, exp.Right, exp.Substring, exp.Length, exp.Concat, exp.DPipe,
    exp.Coalesce, exp.Nullif, exp.Trim, exp.Pad, exp.Repeat, exp.Reverse, exp.Replace, exp.Translate,
    exp.RegexpReplace, exp.SplitPart, exp.StrPosition,
    exp.Round, exp.Floor, exp.Ceil, exp.Abs, exp.Greatest, exp.Least,
    exp.DateTrunc, exp.TimestampTrunc, exp.Extract, exp.Year, exp.Month,
)

# nodes through which the value reaches the result unchanged (or only re-cased or padded)
TRANSPARENT: tuple[type[exp.Expression], ...] = (
    exp.Paren, exp.Cast, exp.TryCast, exp.Lower, exp.Upper, exp.Initcap, exp.Trim, exp.Concat, exp.DPipe,
    exp.Coalesce, exp.Case, exp.If, exp.Greatest, exp.Least, exp.Pad,
)


@functools.lru_cache(maxsize=256)
def check_expression(text: str) -> exp.Expression:
    """The parsed expression, or ValueError saying what is not allowed."""
    try:
        tree = sqlglot.parse_one(text)
    except (ParseError, TokenError) as error:
        raise ValueError(f"custom expression {text!r} is not SQL: {str(error).splitlines()[0]}") from None
    for node in tree.walk():
        if not isinstance(node, ALLOWED_NODES):
            name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__
            raise ValueError(f"custom expression {text!r} uses {name}, which is not on the allow-list")
        if isinstance(node, exp.Column) and (node.table or node.name.lower() != PLACEHOLDER):
            raise ValueError(f"custom expression {text!r} may only refer to the column as {PLACEHOLDER!r}, not {node.sql()!r}")
    if not any(isinstance(node, exp.Column) for node in tree.walk()):
        raise ValueError(f"custom expression {text!r} does not use {PLACEHOLDER!r} (use the constant strategy)")
    if _reveals(tree):
        raise ValueError(f"custom expression {text!r} returns the value unchanged (or only re-cased, trimmed or padded)")
    return tree


def _reveals(node: exp.Expression) -> bool:
    if isinstance(node, exp.Column):
        return True
    if isinstance(node, exp.Case):
        branches = [branch.args.get("true") for branch in node.args.get("ifs") or []] + [node.args.get("default")]
        return any(branch is not None and _reveals(branch) for branch in branches)
    if isinstance(node, exp.If):
        return any(node.args.get(key) is not None and _reveals(node.args[key]) for key in ("true", "false"))
    if isinstance(node, TRANSPARENT):
        return any(_reveals(child) for child in node.iter_expressions() if not isinstance(child, exp.DataType))
    return False


def custom(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, expression: str) -> exp.Expression:
    try:
        tree = check_expression(expression)
    except ValueError as error:
        raise MaskError(str(error)) from None
    filled = tree.copy().transform(lambda node: column.copy() if isinstance(node, exp.Column) else node, copy=False)
    return present(column, filled)
