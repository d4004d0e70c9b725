"""Red-team findings, every row: statements that change every row of a protected table without
being a DELETE/UPDATE/TRUNCATE the rules read (open attacks, one test each; they FAIL until fixed,
then move to the permanent tests)."""

from __future__ import annotations

import pytest

from redteam_support import BOTH, PIPELINE, Session
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)


def _orders(session: Session) -> list[tuple]:
    return session.raw_rows("SELECT count(*), count(amount), count(status), sum(amount) FROM crm.orders")


# 11. Statements that change every row without being a DELETE/UPDATE/TRUNCATE the rules read.
EVERY_ROW = [
    # ALTER COLUMN ... TYPE <same type> USING <constant>: warn only ("widens"), wipes the column
    "ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(10,2) USING NULL",
    # conditions true for every value of the column's type (as id >= -2147483648, which is caught)
    "DELETE FROM crm.orders WHERE id <> 1.5",
    "DELETE FROM crm.orders WHERE id NOT IN (0.5)",
    "DELETE FROM crm.orders WHERE id <> 2147483648",
    "DELETE FROM crm.orders WHERE id::bigint < 9999999999",
    "DELETE FROM crm.orders WHERE amount >= -99999999.99",
    "UPDATE crm.orders SET status = NULL WHERE id <> 1.5",
]


@BOTH
@pytest.mark.parametrize("statement", EVERY_ROW)
def test_a_statement_that_changes_every_row_is_refused(sessions, kind, statement):
    session = sessions(kind, PIPELINE)
    before = _orders(session)
    session.attempt(statement)
    assert _orders(session) == before, f"{statement!r} changed every row of crm.orders"


DUCKDB_EVERY_ROW = [
    "CREATE OR REPLACE TABLE crm.orders AS SELECT * FROM crm.orders WHERE false",  # a TRUNCATE
    "CREATE OR REPLACE TABLE crm.orders (id INTEGER, customer_id INTEGER, amount DECIMAL(10,2), status VARCHAR)",
]


@pytest.mark.parametrize("statement", DUCKDB_EVERY_ROW)
def test_duckdb_replacing_a_table_or_every_row_is_refused(sessions, statement):
    session = sessions("duckdb", PIPELINE)
    before = _orders(session)
    session.attempt(statement)
    assert _orders(session) == before, f"{statement!r} emptied or rewrote crm.orders"
