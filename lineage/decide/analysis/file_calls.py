"""The files a statement's function calls read: DuckDB's table functions over files and
PostgreSQL's server-file functions, by the name the database resolves (``calls.py``).

    SELECT * FROM read_text('/etc/lineage/masking.key')
    -> ('/etc/lineage/masking.key',)

These functions are no value functions (``opaque_statement``); their paths are also file reads
(``file_read``, which cannot be lowered), so a policy that lists ``read_csv`` under
``allowlist.functions`` or lowers ``opaque_statement`` still reads only ``allowlist.files``.
A path that is not a string literal is ``COMPUTED`` (never on an allowlist).
"""

from __future__ import annotations

from sqlglot import exp

from lineage.decide.analysis.calls import ANONYMOUS, call_of

COMPUTED = "(a computed path)"
FILE_FUNCTIONS = frozenset({
    # DuckDB
    "read_csv", "read_csv_auto", "sniff_csv", "read_text", "read_blob", "read_parquet", "parquet_scan",
    "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "read_json",
    "read_json_auto", "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto",
    "read_ndjson_objects", "glob", "read_xlsx", "st_read", "iceberg_scan", "delta_scan",
    # PostgreSQL
    "pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir", "lo_import",
})


def file_calls(expression: exp.Expression, sql: str, offset: int, dialect: str) -> tuple[str, ...]:
    found: list[str] = []
    for node in expression.find_all(exp.Func):
        name = call_of(node, sql, offset, dialect).name.lower().rpartition(".")[2]
        if name not in FILE_FUNCTIONS:
            continue
        first = node.expressions[0] if isinstance(node, ANONYMOUS) and node.expressions else node.this
        if first is None and node.expressions:
            first = node.expressions[0]
        literals = first.expressions if isinstance(first, exp.Array) else [first]
        for item in literals:
            found.append(item.name if isinstance(item, exp.Literal) and item.is_string else COMPUTED)
    return tuple(found)
