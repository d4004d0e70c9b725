"""The masks in the SQL of a dbt node: what the record of a statement says was masked.

Every mask the ``lineage_governance`` macros render carries a marker, a condition that is
always true and names what it masks (``marked_mask.sql``):

    case when 'lineage_mask?column=c.email&strategy=email&tag=pii.email' is not null then (<the mask>) end

so the SQL that ran says which masks it holds. ``ran_masks`` reads them back from a statement
dbt sent and turns the statement into its analysis form, the form the pre-flight judged:
``mask()`` becomes ``lineage_mask(c.email, 'email', 'pii.email')``, a governed read's derived
table ``(select id, <mask> as email, ... from shop.raw.customers) as c`` becomes
``shop.raw.customers as c`` with its masked columns noted. ``masks_of`` then says, from that
form, which columns the statement reads masked (as the core reports them: a masked column
counts where the statement reads it, or for ``mask()``, where the masked value is all that
reaches an output):

    create table shop.marts.dim__dbt_tmp as (select <marked email mask of c.email> as email, c.city
        from (select "id", <marked "ssn" mask>, "email", "city" from shop.staging.stg_customers) as c)
    -> shop.staging.stg_customers.email (email); not ssn, which the model does not read

A marker is only taken for a mask when its expression masks something (not a bare column) and
the caller accepts it (``lineage dbt``: the run's plan masks that column that way, or the
pre-flight saw that ``mask()`` call); otherwise the value counts as read raw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping
from urllib.parse import parse_qsl

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from lineage.model import MaskedColumn, StatementFacts

MARKER = "lineage_mask?"
MASK_FUNCTION = "lineage_mask"

Analyze = Callable[[str], "StatementFacts | None"]
TagsOf = Callable[[str, str], Iterable[str]]


@dataclass(frozen=True)
class Marker:
    """One rendered mask: the ``case`` that holds it and what its marker names."""

    case: exp.Case
    column: str  # the masked column as the macro got it (``c.email``, ``"email"``)
    strategy: str
    tag: str


def merged(*groups: Iterable[MaskedColumn]) -> tuple[MaskedColumn, ...]:
    """Masked columns once each (the first mask named for a column wins)."""
    out: dict[tuple[str, str], MaskedColumn] = {}
    for group in groups:
        for column in group:
            out.setdefault((column.table.lower(), column.column.lower()), column)
    return tuple(out.values())


def column_name(marker: Marker, dialect: str) -> str | None:
    """The bare name of the column a marker names (``"first_name"`` -> ``first_name``), None for an expression."""
    column = _column(marker.column, dialect)
    return column.name if isinstance(column, exp.Column) else None


def marker_of(node: exp.Expression) -> Marker | None:
    """``case when '<marker>' is not null then (<mask>) end`` -> the Marker; anything else -> None.

    >>> tree = sqlglot.parse_one("select case when 'lineage_mask?column=c.e&strategy=redact&tag=' is not null then (repeat('x', 3)) end")
    >>> marker_of(tree.find(exp.Case)).strategy
    'redact'
    """
    if not isinstance(node, exp.Case) or node.args.get("default") is not None or len(node.args.get("ifs") or []) != 1:
        return None
    branch = node.args["ifs"][0]
    condition = branch.this
    if isinstance(condition, exp.Not) and isinstance(condition.this, exp.Is):
        condition = condition.this
    elif not (isinstance(condition, exp.Is) and condition.args.get("negate")):
        return None
    literal = condition.this
    if not (isinstance(literal, exp.Literal) and literal.is_string and isinstance(condition.expression, exp.Null)):
        return None
    text = literal.this
    if not text.startswith(MARKER):
        return None
    fields = dict(parse_qsl(text[len(MARKER):], keep_blank_values=True))
    masked = branch.args.get("true")
    while isinstance(masked, exp.Paren):
        masked = masked.this
    if not fields.get("column") or not fields.get("strategy") or masked is None or isinstance(masked, exp.Column):
        return None  # a bare column masks nothing
    return Marker(node, fields["column"], fields["strategy"], fields.get("tag", ""))


def ran_masks(sql: str, dialect: str, analyze: Analyze, tags_of: TagsOf, accept: Callable[[Marker, str | None], bool]) -> tuple[MaskedColumn, ...]:
    """The masks in one statement dbt sent (its markers), read as ``masks_of`` reads the analysis form.
    ``accept(marker, relation)``: relation is the governed read's table (lower case), None for ``mask()``."""
    if MARKER not in sql:
        return ()
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (ParseError, TokenError):
        return ()  # the engine reports it unparseable; nothing in it counts as masked
    if tree is None:
        return ()
    derived: dict[str, dict[str, Marker]] = {}
    governed = _governed_reads(tree)
    in_governed_reads = {id(marker.case) for _, _, markers in governed for marker in markers.values()}
    for subquery, table, markers in governed:
        name = _table_name(table)
        accepted = {column: marker for column, marker in markers.items() if accept(marker, name)}
        if not accepted:
            continue
        derived.setdefault(name, {}).update(accepted)
        replacement = table.copy()
        replacement.set("alias", exp.TableAlias(this=subquery.args["alias"].this.copy()))
        subquery.replace(replacement)
    for marker in [m for m in map(marker_of, tree.find_all(exp.Case)) if m is not None and id(m.case) not in in_governed_reads]:
        column = _column(marker.column, dialect)
        if column is None or not accept(marker, None):
            continue
        marker.case.replace(exp.Anonymous(this=MASK_FUNCTION, expressions=[column, exp.Literal.string(marker.strategy), exp.Literal.string(marker.tag)]))
    masks = {relation: {column: (marker.strategy, marker.tag) for column, marker in columns.items()} for relation, columns in derived.items()}
    return masks_of(tree, masks, dialect, analyze, tags_of)


def masks_of(tree: exp.Expression, derived: Mapping[str, Mapping[str, tuple[str, str]]], dialect: str, analyze: Analyze, tags_of: TagsOf) -> tuple[MaskedColumn, ...]:
    """The columns a statement in analysis form reads masked. ``derived`` holds the governed reads'
    masks (relation -> column -> (strategy, tag), lower case): a column counts where the statement
    reads it. A ``lineage_mask(column, strategy, tag)`` masks the sources whose lineage edges
    vanish when it alone reads NULL."""
    calls = [node for node in tree.find_all(exp.Anonymous) if str(node.this).lower() == MASK_FUNCTION]
    if not calls and not any(derived.values()):
        return ()
    full = analyze(tree.sql(dialect))
    if full is None:
        return ()
    columns: dict[tuple[str, str], MaskedColumn] = {}

    def add(table: str, column: str, strategy: str, tag: str) -> None:
        tags = (tag,) if tag else tuple(tags_of(table, column))
        columns.setdefault((table.lower(), column.lower()), MaskedColumn(table, column, tags, strategy))

    for relation, masked in derived.items():
        table = _read_as(relation, full.reads)
        if table is None or not masked:
            continue
        read = {column.lower() for column in full.columns_read.get(table, ())}
        star = table in full.star_reads or "*" in read
        for column, (strategy, tag) in masked.items():
            if star or column in read:
                add(table, _column_as(column, full.columns_read.get(table, ())), strategy, tag)
    for index, call in enumerate(calls):
        arguments = [arg.name if isinstance(arg, exp.Literal) else "" for arg in call.expressions[1:3]]
        strategy, tag = (arguments + ["", ""])[:2]
        stripped = tree.copy()
        [node for node in stripped.find_all(exp.Anonymous) if str(node.this).lower() == MASK_FUNCTION][index].replace(exp.Null())
        without = analyze(stripped.sql(dialect))
        if without is None:
            continue
        for target, sources in full.lineage.edges.items():
            remaining = {source.lower() for source in without.lineage.edges.get(target, {})}
            for source in sources:
                if source.lower() not in remaining:
                    source_table, _, source_column = source.rpartition(".")
                    add(source_table, source_column, strategy, tag)
    return tuple(columns.values())


def _governed_reads(tree: exp.Expression) -> list[tuple[exp.Subquery, exp.Table, dict[str, Marker]]]:
    """Derived tables the governed macros render: ``(select <columns and masks> from <table>) as alias``."""
    found = []
    for subquery in list(tree.find_all(exp.Subquery)):
        select = subquery.this
        alias = subquery.args.get("alias")
        if not isinstance(select, exp.Select) or alias is None or alias.this is None:
            continue
        source = select.args.get("from_")
        if source is None or not isinstance(source.this, exp.Table) or any(select.args.get(key) for key in ("joins", "where", "group", "having", "qualify", "order", "limit", "with", "distinct")):
            continue
        markers: dict[str, Marker] = {}
        plain = True
        for projection in select.expressions:
            if isinstance(projection, exp.Column):
                continue
            masked = projection.this if isinstance(projection, exp.Alias) else None
            while isinstance(masked, exp.Paren):
                masked = masked.this
            marker = marker_of(masked) if masked is not None else None
            if marker is None:
                plain = False
                break
            markers[projection.alias.lower()] = marker
        if plain and markers:
            found.append((subquery, source.this, markers))
    return found


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in (table.args.get("catalog"), table.args.get("db"), table.this) if part is not None and part.name).lower()


def _read_as(relation: str, reads: Iterable[str]) -> str | None:
    """The analysis' name of a relation the SQL names with fewer or more parts."""
    for name in reads:
        lowered = name.lower()
        if lowered == relation or lowered.endswith("." + relation) or relation.endswith("." + lowered):
            return name
    return None


def _column_as(column: str, known: Iterable[str]) -> str:
    return next((name for name in known if name.lower() == column), column)


def _column(text: str, dialect: str) -> exp.Expression | None:
    try:
        parsed = sqlglot.parse_one(text, read=dialect)
    except (ParseError, TokenError, ValueError):
        return None
    return parsed if isinstance(parsed, exp.Expression) and not isinstance(parsed, exp.Query) else None
