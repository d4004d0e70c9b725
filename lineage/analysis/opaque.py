"""Find SQL hidden where the analysis cannot follow it: inside string arguments."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from lineage.analysis.statements import get_dialect
from lineage.model import OpaquePart

# functions whose string argument is SQL text or a table name the database resolves at run time
SQL_STRING_FUNCTIONS = {
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
    "table_to_xml",
    "table_to_xml_and_xmlschema",
    "table_to_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "schema_to_xml",
    "database_to_xml",
    "dblink",
    "dblink_exec",
    "dblink_open",
    "dblink_send_query",
    "ts_stat",
    "query",
    "query_table",
    "sql_query",
    "exec",
    "execute",
    "pg_read_file",
    "pg_read_binary_file",
    "lo_import",
    "lo_export",
}

_SQL_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.INSERT, TokenType.UPDATE, TokenType.DELETE, TokenType.VALUES, TokenType.TABLE, TokenType.MERGE, TokenType.COMMAND, TokenType.CREATE, TokenType.DROP, TokenType.ALTER}


def function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return (node.sql_name() or type(node).__name__).lower()


def find_opaque_parts(expression: exp.Expression, dialect: str) -> list[OpaquePart]:
    parts: list[OpaquePart] = []
    for node in expression.find_all(exp.Func):
        name = function_name(node)
        if name in SQL_STRING_FUNCTIONS:
            # whatever the argument (a literal, a column, a concatenation), the SQL is only known at run time
            parts.append(OpaquePart("sql_in_string", f"{name}() runs SQL or reads a table named by its argument"))
            continue
        strings = [arg for arg in node.find_all(exp.Literal) if arg.is_string]
        for literal in strings:
            if literal.parent is node and _looks_like_sql(literal.name, dialect):
                parts.append(OpaquePart("sql_in_string", f"{name}() receives SQL text in a string argument"))
                break
    return parts


_SQL_WORDS = ("select", "with", "insert", "update", "delete", "values", "table", "merge", "create", "drop", "alter", "execute", "copy")


def _looks_like_sql(text: str, dialect: str) -> bool:
    # cheap filter before tokenizing: SQL text starts with a statement keyword and has a space
    head = text.lstrip().lstrip("(").lower()
    if len(text) < 8 or " " not in text or not head.startswith(_SQL_WORDS):
        return False
    try:
        tokens = get_dialect(dialect).tokenize(text)
    except (TokenError, Exception):
        return False
    if len(tokens) < 3 or tokens[0].token_type not in _SQL_STARTS:
        return False
    types = {token.token_type for token in tokens}
    return TokenType.FROM in types or TokenType.INTO in types or tokens[0].token_type in (TokenType.DROP, TokenType.ALTER, TokenType.DELETE, TokenType.UPDATE)
