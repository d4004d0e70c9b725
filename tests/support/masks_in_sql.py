"""The masks in SQL that ran, found by their shape alone: the truth the record is checked against.

Written for the tests, apart from ``lineage.adapters.dbt.masks`` (which reads the markers' contents):

- a derived table (a subquery in FROM, not a CTE) that only projects one table, whose projection
  ``<expr> AS c`` is not a bare column, masks ``c`` (the core's scan-time rewrite and the governed ``source()``/``ref()`` both look
  so); it counts where the statement reads ``c`` through that derived table, as the core reports;
- ``CASE WHEN '<text>' IS NOT NULL THEN <expr> END`` (``mask()`` in a model) masks the columns
  ``<expr>`` reads.

    masks_in('select c.email from (select c.id, md5(c.email) as email from raw.customers as c) as c', 'postgres')
    -> {('raw.customers', 'email')}
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope


def masks_in(sql: str, dialect: str) -> set[tuple[str, str]]:
    """(table as the SQL names it, column), lower case, for every mask the statement reads."""
    tree = sqlglot.parse_one(sql, read=dialect)
    root = tree
    while not isinstance(root, exp.Query) and isinstance(root, exp.Expression) and root.args.get("expression") is not None:
        root = root.args["expression"]
    while isinstance(root, exp.Subquery):
        root = root.this
    if not isinstance(root, exp.Query):
        return set()
    root = qualify(root, dialect=dialect, validate_qualify_columns=False, quote_identifiers=False, identify=False)
    found: set[tuple[str, str]] = set()
    for scope in traverse_scope(root):
        for alias, source in scope.sources.items():
            masked = _derived_masks(source)
            if masked is None:
                continue
            table, columns = masked
            for column in scope.columns:
                if column.table == alias and column.name.lower() in columns:
                    found.add((table, column.name.lower()))
        for case in scope.expression.find_all(exp.Case):
            if case.find_ancestor(exp.Select) is not scope.expression or not _is_mask_call(case):
                continue
            for column in case.args["ifs"][0].args["true"].find_all(exp.Column):
                table = _table_of(scope, column.table)
                if table is not None:
                    found.add((table, column.name.lower()))
    return found


def _derived_masks(source) -> tuple[str, set[str]] | None:
    """(table, masked columns) of a derived table over one table, None for anything else."""
    if not isinstance(source, Scope) or not source.is_derived_table or not isinstance(source.expression, exp.Select):
        return None
    select = source.expression
    tables = [value for value in source.sources.values() if isinstance(value, exp.Table)]
    if len(source.sources) != 1 or len(tables) != 1 or any(select.args.get(key) for key in ("joins", "where", "group", "having", "distinct")):
        return None
    masked = set()
    for projection in select.expressions:
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(inner, exp.Column):  # a column as it is, or renamed, is not masked
            masked.add(projection.alias_or_name.lower())
    return (_name(tables[0]), masked) if masked else None


def _is_mask_call(case: exp.Case) -> bool:
    ifs = case.args.get("ifs") or []
    if len(ifs) != 1 or case.args.get("default") is not None:
        return False
    condition = ifs[0].this
    if isinstance(condition, exp.Not):
        condition = condition.this
    elif not condition.args.get("negate"):
        return False
    return isinstance(condition, exp.Is) and isinstance(condition.this, (exp.Literal, exp.Placeholder)) and isinstance(condition.expression, exp.Null)


def _table_of(scope: Scope, alias: str) -> str | None:
    source = scope.sources.get(alias)
    if isinstance(source, exp.Table):
        return _name(source)
    if isinstance(source, Scope) and len(source.sources) == 1:
        inner = next(iter(source.sources.values()))
        if isinstance(inner, exp.Table) and not source.expression.args.get("joins"):
            return _name(inner)
    return None


def _name(table: exp.Table) -> str:
    return ".".join(part.name for part in (table.args.get("catalog"), table.args.get("db"), table.this) if part is not None and part.name).lower()
