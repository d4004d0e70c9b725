"""Statements that read only the server's catalog or session settings, never table data.

Drivers, SQLAlchemy and the OpenLineage provider send these around a pipeline's own statements
(``SELECT CURRENT_SCHEMA``, ``information_schema.columns`` lookups, ``SHOW ...``) without the
run-identity comment; ``lineage correlate`` attributes them to a governed run by session or by
time, and only these: anything else without a comment stays unattributed.

    >>> is_catalog_lookup("SELECT CURRENT_SCHEMA", "postgres")
    True
    >>> is_catalog_lookup("SELECT column_name FROM information_schema.columns WHERE table_name IN ('customers')", "postgres")
    True
    >>> is_catalog_lookup("SELECT ssn FROM crm.customers", "postgres")
    False
    >>> is_catalog_lookup("SELECT pg_read_file('/etc/passwd')", "postgres")
    False

An allowlist: every node of the statement must be a plain query part, a catalog relation
(``information_schema.*``, ``pg_catalog.*`` or a well-known unqualified ``pg_*`` view) or a
function that reads catalog or session state.
"""

from __future__ import annotations

import functools

from sqlglot import exp
from sqlglot.errors import SqlglotError

from lineage.decide.analysis.statements import get_dialect

CATALOG_SCHEMAS = {"information_schema", "pg_catalog"}
# unqualified names resolve to pg_catalog first (it leads every search_path)
CATALOG_RELATIONS = {
    "pg_namespace", "pg_class", "pg_attribute", "pg_type", "pg_index", "pg_constraint", "pg_proc",
    "pg_database", "pg_roles", "pg_settings", "pg_description", "pg_tables", "pg_views", "pg_matviews",
    "pg_indexes", "pg_attrdef", "pg_depend", "pg_inherits", "pg_am", "pg_extension", "pg_enum",
    "pg_collation", "pg_sequence", "pg_sequences", "pg_rewrite", "pg_trigger", "pg_range",
}
# functions (lower case) that read catalog or session state
CATALOG_FUNCTIONS = {
    "version", "current_schema", "current_schemas", "current_database", "current_catalog", "current_user",
    "session_user", "current_setting", "pg_backend_pid", "format_type", "pg_get_expr", "pg_get_indexdef",
    "pg_get_constraintdef", "pg_get_viewdef", "pg_get_userbyid", "obj_description", "col_description",
    "pg_table_is_visible", "pg_type_is_visible", "pg_encoding_to_char", "has_table_privilege",
    "has_schema_privilege", "has_database_privilege", "pg_is_in_recovery", "quote_ident", "txid_current",
}
QUERY_PARTS = (
    exp.Select, exp.Union, exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered,
    exp.Limit, exp.Offset, exp.Alias, exp.TableAlias, exp.Column, exp.Identifier, exp.Dot, exp.Star,
    exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Tuple, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT,
    exp.LTE, exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Like, exp.ILike, exp.Between, exp.Case, exp.If,
    exp.Cast, exp.DataType, exp.DataTypeParam, exp.Distinct, exp.Subquery, exp.Placeholder, exp.Neg,
    exp.DPipe, exp.Var, exp.CurrentSchema, exp.CurrentUser, exp.Count, exp.Coalesce, exp.Lower,
    exp.Upper, exp.ArrayAgg, exp.GroupConcat,
)


@functools.lru_cache(maxsize=4096)
def is_catalog_lookup(sql: str, dialect: str) -> bool:
    """True when every statement in ``sql`` reads nothing but catalog relations, catalog or
    session functions, or a setting (``SHOW``)."""
    try:
        trees = [tree for tree in get_dialect(dialect).parse(sql) if tree is not None]
    except (SqlglotError, Exception):
        return False
    return bool(trees) and all(_reads_only_the_catalog(tree) for tree in trees)


def _reads_only_the_catalog(tree: exp.Expression) -> bool:
    if isinstance(tree, exp.Command):
        return str(tree.this).upper() == "SHOW"
    if not isinstance(tree, (exp.Select, exp.Union)):
        return False
    for node in tree.walk():
        if isinstance(node, exp.Table):
            if not _catalog_relation(node):
                return False
        elif isinstance(node, exp.Anonymous):
            if str(node.this).lower() not in CATALOG_FUNCTIONS:
                return False
        elif not isinstance(node, QUERY_PARTS):
            return False
    return True


def _catalog_relation(table: exp.Table) -> bool:
    if not isinstance(table.this, exp.Identifier):
        return False  # a function in FROM (generate_series, a set-returning function)
    schema = table.db.lower()
    if schema:
        return schema in CATALOG_SCHEMAS
    return table.name.lower() in CATALOG_RELATIONS
