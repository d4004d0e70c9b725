"""What an approval binds: the exact statement, as its approver sees it.

    bind_statement("SET ROLE 'analyst' -- nightly", "postgres", Classified.of(policy))
    -> StatementBinding(text="SET ROLE 'analyst'", hidden=())
    bind_statement("DELETE FROM crm.customers WHERE ssn = '123-45-6789' AND region = 'EU'", ...)
    -> StatementBinding(text="DELETE FROM crm.customers WHERE ssn = ? AND region = 'EU'", hidden=("s:123-45-6789",))

Comments and spacing do not count (the text is sqlglot's rendering of the parsed statement, or
its tokens when sqlglot keeps the statement as an opaque command); every literal does. A literal
that compares with, is assigned to or is inserted into a column the policy classifies is a
classified value: the approver sees ``?`` there, and the approval binds a slow, salted digest of
the hidden values instead (``hidden_digest``), so nobody reading the approvals store or the ledger
learns them and a changed value is still another statement. When it is not clear which column a
literal belongs to, it is hidden (the safe direction).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Iterable

from sqlglot import exp
from sqlglot.tokens import TokenType

from lineage.decide.analysis.statements import get_dialect
from lineage.decide.names import glob_match, table_matches

_LITERALS = (exp.Literal, exp.Heredoc, exp.RawString, exp.HexString, exp.ByteString, exp.BitString, exp.National)
_LITERAL_TOKENS = {
    TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING, TokenType.BIT_STRING, TokenType.HEX_STRING,
    TokenType.BYTE_STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING, TokenType.UNICODE_STRING,
}
_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}
# scrypt at n=2**14, r=8: about 16 MB and tens of milliseconds per digest, so guessing a hidden
# value (a social security number has 10**9) from the store costs years, not seconds
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


@dataclass(frozen=True)
class Classified:
    """Which column and table names hold classified values (policy globs, plus what the decision masked)."""

    column_globs: tuple[str, ...] = ()
    table_globs: tuple[str, ...] = ()

    @classmethod
    def of(cls, policy, extra_columns: Iterable[str] = (), extra_tables: Iterable[str] = ()) -> "Classified":
        columns = [column for item in policy.classifications for column in item.columns]
        tables = [item.table for item in policy.classifications]
        return cls(tuple(dict.fromkeys([*columns, *extra_columns])), tuple(dict.fromkeys([*tables, *extra_tables])))

    @classmethod
    def of_entries(cls, entries) -> "Classified":
        """From a ``Classifier``'s entries (the policy's and, for dbt, the models' column ``meta``)."""
        return cls(tuple(dict.fromkeys(entry.column for entry in entries)), tuple(dict.fromkeys(entry.table for entry in entries)))

    def column(self, name: str) -> bool:
        return any(glob_match(pattern, name) for pattern in self.column_globs)

    def table(self, name: str) -> bool:
        return any(table_matches(pattern, name) for pattern in self.table_globs)


@dataclass(frozen=True)
class StatementBinding:
    text: str
    dialect: str
    hidden: tuple[str, ...] = ()

    def digest(self, salt: str | None) -> str | None:
        return hidden_digest(self.hidden, salt) if self.hidden else None


def bind_statement(sql: str, dialect: str, classified: Classified) -> StatementBinding:
    try:
        expressions = [e for e in get_dialect(dialect).parse(sql) if e is not None]
    except Exception:  # unparseable: the tokens are the statement
        expressions = []
    if not expressions or any(isinstance(e, exp.Command) for e in expressions):
        return _bind_tokens(sql, dialect, classified)
    parts, hidden = [], []
    for expression in expressions:
        expression = expression.copy()
        for node in expression.walk():
            node.comments = None
        for node in list(expression.find_all(*_LITERALS)):
            if node.find_ancestor(exp.DataType) is not None:
                continue  # varchar(10): part of the type, not a value
            if _is_classified_value(node, expression, classified):
                hidden.append(_value(node))
                node.replace(exp.var("?"))
        parts.append(expression.sql(dialect=dialect))
    return StatementBinding("; ".join(parts), dialect, tuple(hidden))


def new_salt() -> str:
    return secrets.token_hex(16)


@functools.lru_cache(maxsize=256)
def hidden_digest(hidden: tuple[str, ...], salt: str | None) -> str | None:
    if not hidden:
        return None
    if not salt:
        raise ValueError("a statement with hidden values needs a salt")
    data = json.dumps(list(hidden), ensure_ascii=False).encode("utf-8")
    return "scrypt:" + hashlib.scrypt(data, salt=bytes.fromhex(salt), **_SCRYPT).hex()


def _value(node: exp.Expression) -> str:
    if isinstance(node, exp.Literal):
        return f"{'s' if node.is_string else 'n'}:{node.this}"
    return f"{type(node).__name__.lower()}:{node.this}"


def _is_classified_value(literal: exp.Expression, statement: exp.Expression, classified: Classified) -> bool:
    predicate = literal.find_ancestor(exp.Predicate)
    if predicate is not None:
        return _names_classified(predicate, classified)
    insert = literal.find_ancestor(exp.Insert)
    if insert is not None and _within(literal, insert.expression):
        target = _insert_target(literal, insert)
        if target is not None:
            return classified.column(target) or _names_classified(_clause(literal, statement), classified)
        table = insert.find(exp.Table)
        return table is None or classified.table(_table_name(table)) or _names_classified(_clause(literal, statement), classified)
    return _names_classified(_clause(literal, statement), classified)


def _names_classified(scope: exp.Expression, classified: Classified) -> bool:
    return any(classified.column(node.name) for node in scope.find_all(exp.Column, exp.Identifier))


def _clause(node: exp.Expression, statement: exp.Expression) -> exp.Expression:
    """The part of the statement the literal belongs to: its ancestor just below the statement."""
    while node.parent is not None and node.parent is not statement:
        node = node.parent
    return node


def _within(node: exp.Expression, container: exp.Expression | None) -> bool:
    while node is not None:
        if node is container:
            return True
        node = node.parent
    return False


def _insert_target(literal: exp.Expression, insert: exp.Insert) -> str | None:
    """The target column of a literal in INSERT ... VALUES or INSERT ... SELECT, when the statement names it."""
    schema = insert.this if isinstance(insert.this, exp.Schema) else None
    if schema is None or not schema.expressions:
        return None
    names = [column.name for column in schema.expressions]
    row = literal
    while row.parent is not None and not isinstance(row.parent, (exp.Tuple, exp.Select)) and row is not insert:
        row = row.parent
    holder = row.parent
    items = holder.expressions if isinstance(holder, (exp.Tuple, exp.Select)) else None
    if not items:
        return None
    for position, item in enumerate(items):
        if item is row:
            return names[position] if position < len(names) else None
    return None


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def _bind_tokens(sql: str, dialect: str, classified: Classified) -> StatementBinding:
    try:
        tokens = get_dialect(dialect).tokenize(sql)
    except Exception:
        return StatementBinding(sql.strip(), dialect, ())  # nothing to read: the text itself, exactly
    names_classified = any(token.token_type in _NAME_TOKENS and classified.column(token.text) for token in tokens)
    parts, hidden = [], []
    for token in tokens:
        if token.token_type in _LITERAL_TOKENS and names_classified:
            hidden.append(f"{token.token_type.name}:{token.text}")
            parts.append("?")
        else:
            parts.append(_render(token))
    return StatementBinding(" ".join(parts), dialect, tuple(hidden))


def _render(token) -> str:
    if token.token_type == TokenType.STRING:
        return "'" + token.text.replace("'", "''") + "'"
    if token.token_type == TokenType.IDENTIFIER:
        return '"' + token.text.replace('"', '""') + '"'
    if token.token_type in _LITERAL_TOKENS and token.token_type != TokenType.NUMBER:
        return f"{token.token_type.name}{json.dumps(token.text, ensure_ascii=False)}"
    return token.text
