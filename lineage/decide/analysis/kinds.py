"""Statement kinds: what ``StatementFacts.kind`` says a statement is, and the families rules ask about.

Fixed kinds are ``Kind`` members; they are strings, so ledger records and events keep the words
they always had. DDL names its object: ``create_<object>``, ``alter_<object>``, ``drop_<object>``
(``is_ddl``); a command the analysis classifies (``lineage.decide.analysis.commands``) keeps its
own word (``vacuum``, ``create_role``, ...).

    >>> Kind.SELECT == "select", Kind.UPDATE in ROW_CHANGES, is_ddl("drop_schema"), is_ddl(Kind.SELECT)
    (True, True, True, False)
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    UNKNOWN = "unknown"
    UNPARSEABLE = "unparseable"
    OVER_LIMITS = "over_limits"  # text the check refused unfinished (``lineage.decide.limits``)
    SELECT = "select"
    VALUES = "values"
    SELECT_INTO = "select_into"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    MERGE = "merge"
    CREATE_TABLE = "create_table"
    CREATE_TABLE_AS = "create_table_as"
    CREATE_VIEW = "create_view"
    CREATE_INDEX = "create_index"
    TRUNCATE = "truncate"
    GRANT = "grant"
    REVOKE = "revoke"
    COPY_IN = "copy_in"
    COPY_OUT = "copy_out"
    SET = "set"
    RESET = "reset"
    SHOW = "show"
    PRAGMA = "pragma"
    TRANSACTION = "transaction"
    USE = "use"
    EXPLAIN = "explain"

    def __repr__(self) -> str:  # shown as the word it is, in messages and reprs of facts alike
        return repr(self.value)


QUERIES = frozenset({Kind.SELECT, Kind.VALUES})
ROW_CHANGES = frozenset({Kind.UPDATE, Kind.DELETE, Kind.MERGE})  # the target is read as well as written
CREATING_FROM_QUERIES = frozenset({Kind.CREATE_TABLE_AS, Kind.CREATE_VIEW, Kind.SELECT_INTO})  # a query defines the columns
CREATING_RELATIONS = CREATING_FROM_QUERIES | {Kind.CREATE_TABLE}
VIEWS = frozenset({Kind.CREATE_VIEW})
DDL_PREFIXES = ("create_", "alter_", "drop_", "rename", "select_into", "comment")


def is_ddl(kind: str) -> bool:
    return kind.startswith(DDL_PREFIXES)


def is_drop(kind: str) -> bool:
    return kind.startswith("drop_")


def is_create(kind: str) -> bool:
    return kind.startswith("create")
