"""Which table references name a CTE rather than a relation: one answer, by SQL's scoping
rules, for the analysis (what the statement reads) and the masking rewrite (what it masks).

    WITH customers AS (SELECT * FROM customers) SELECT * FROM customers
    -> the inner ``customers`` is the physical table, the outer one the CTE
"""

from __future__ import annotations

import functools

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect


@functools.lru_cache(maxsize=65536)  # a few names, asked about for every table of every statement
def _normalize(name: str, quoted: bool, dialect: str) -> str:
    identifier = exp.Identifier(this=name, quoted=quoted)
    return Dialect.get_or_raise(dialect).normalize_identifier(identifier).name


def normalized(identifier: exp.Expression | str, dialect: str) -> str:
    """An identifier as the database compares it (quoted: exact; bare: folded)."""
    if isinstance(identifier, str):
        return _normalize(identifier, False, dialect)
    if isinstance(identifier, exp.Identifier):
        return _normalize(identifier.name, bool(identifier.args.get("quoted")), dialect)
    return _normalize(identifier.name, False, dialect)


def is_cte_reference(table: exp.Table, dialect: str) -> bool:
    """True when an unqualified name denotes a CTE visible where it stands (SQL's scoping rules).

    In ``WITH customers AS (SELECT * FROM customers)`` the inner ``customers`` is the
    physical table (a CTE does not see itself unless RECURSIVE); the outer one is the CTE.
    """
    if table.args.get("db") is not None or table.args.get("catalog") is not None:
        return False
    name = normalized(table.this, dialect)
    child: exp.Expression = table
    node = table.parent
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Expression) else None
        if isinstance(with_, exp.With) and child is not with_:
            ctes = with_.expressions
            if any(normalized(cte.args["alias"].this, dialect) == name for cte in ctes if cte.args.get("alias")):
                return True
        if isinstance(node, exp.With):
            recursive = bool(node.args.get("recursive"))
            ctes = node.expressions
            position = next((index for index, cte in enumerate(ctes) if cte is child), None)
            if position is not None:
                visible = ctes[: position + 1] if recursive else ctes[:position]
                if any(normalized(cte.args["alias"].this, dialect) == name for cte in visible if cte.args.get("alias")):
                    return True
        child = node
        node = node.parent
    return False
