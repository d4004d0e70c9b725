"""recursive_self_references: a recursive CTE's own name where the dialects disagree on what it is.

    WITH RECURSIVE customers AS (SELECT ssn FROM customers) SELECT * FROM customers
    -> ["WITH RECURSIVE customers: ..."]   (DuckDB reads the table customers; PostgreSQL refuses it)

Only the recursive term of ``anchor UNION [ALL] recursive`` reads the CTE itself in every
dialect. Elsewhere in the CTE's body (a body without UNION, the anchor term) DuckDB binds the
name to a table of that name, while sqlglot's scopes and the masking rewrite take it for the CTE;
such a reference is reported, so the statement is refused rather than read unmasked.
"""

from __future__ import annotations

from sqlglot import exp


def recursive_self_references(tree: exp.Expression, dialect: str) -> list[str]:
    found = []
    for with_ in tree.find_all(exp.With):
        if not with_.args.get("recursive"):
            continue
        for cte in with_.expressions:
            alias = cte.args.get("alias")
            if alias is None or alias.this is None:
                continue
            name = alias.name.lower()
            body = cte.this
            recursive_term = body.expression if isinstance(body, exp.Union) else None
            for table in body.find_all(exp.Table):
                if table.args.get("db") is not None or table.name.lower() != name:
                    continue
                if recursive_term is not None and (table is recursive_term or inside(table, recursive_term)):
                    continue
                found.append(
                    f"WITH RECURSIVE {alias.sql(dialect)}: {table.sql(dialect)} in the CTE's own body outside the recursive term of "
                    f"UNION is read as the table of that name by some databases (DuckDB) and as the CTE by the analysis; "
                    f"rename the CTE (or qualify the table, schema.{table.name})"
                )
                break
    return found


def inside(node: exp.Expression, ancestor: exp.Expression) -> bool:
    """Whether ``ancestor`` (this very node, not an equal one) encloses ``node``."""
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False
