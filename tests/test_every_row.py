"""Statements that change every row of a protected table without being the DELETE / UPDATE /
TRUNCATE the rules read by name: upserts of a table onto itself, ALTER COLUMN ... TYPE ... USING,
DuckDB's CREATE OR REPLACE TABLE, and WHERE clauses that hold for every value of the column's type.
Each is sent through a governed connection (PostgreSQL 15 and DuckDB) and the test asserts the
rows really stored are unchanged; the forms that do filter still run."""

from __future__ import annotations

import pytest

from lineage.governor import ApprovalRequired, StatementBlocked

from redteam_support import ALICE_SSN, BOTH, PIPELINE, Session
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)

REFUSED = (StatementBlocked, ApprovalRequired)


def _orders(session: Session) -> list[tuple]:
    return session.raw_rows("SELECT count(*), count(amount), count(status), sum(amount) FROM crm.orders")


# -- upserts: ON CONFLICT DO UPDATE / INSERT OR REPLACE is an UPDATE of the rows its source holds ---


@BOTH
def test_a_masked_identity_cannot_overwrite_raw_values_with_masked_ones(sessions, kind):
    """A whole-table upsert of a protected table onto itself, read masked: every raw SSN would become masked."""
    session = sessions(kind)
    outcome = session.attempt("INSERT INTO crm.customers SELECT * FROM crm.customers ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn, email = excluded.email")
    assert isinstance(outcome, REFUSED), outcome
    finding = next(f for f in outcome.decision.findings if f.rule == "update_without_where")
    assert "Add a WHERE to DO UPDATE" in finding.message, finding.message
    stored = session.raw_rows("SELECT ssn FROM crm.customers WHERE id = 1")
    assert stored == [(ALICE_SSN,)], f"the raw SSN was overwritten: {stored}"


UPSERTS_OF_EVERY_ROW = [
    "INSERT INTO crm.orders SELECT * FROM crm.orders ON CONFLICT (id) DO UPDATE SET amount = 0, status = NULL",
    "INSERT INTO crm.orders AS o SELECT * FROM crm.orders ON CONFLICT (id) DO UPDATE SET amount = 0 WHERE o.id IS NOT NULL",
    "INSERT INTO crm.orders VALUES ((SELECT max(id) FROM crm.orders), 1, 1, 'x') ON CONFLICT (id) DO UPDATE SET amount = 0",
]


@BOTH
@pytest.mark.parametrize("statement", UPSERTS_OF_EVERY_ROW)
def test_an_upsert_of_a_table_onto_itself_is_refused(sessions, kind, statement):
    session = sessions(kind, PIPELINE)
    before = _orders(session)
    outcome = session.attempt(statement)
    assert isinstance(outcome, REFUSED), outcome
    assert _orders(session) == before, f"{statement!r} changed every row of crm.orders"


def test_duckdb_insert_or_replace_of_a_table_onto_itself_is_refused(sessions):
    session = sessions("duckdb", PIPELINE)
    before = _orders(session)
    outcome = session.attempt("INSERT OR REPLACE INTO crm.orders SELECT id, NULL, NULL, NULL FROM crm.orders")
    assert isinstance(outcome, REFUSED), outcome
    assert _orders(session) == before


BOUNDED_UPSERTS = [  # (statement, the row it changes)
    ("INSERT INTO crm.orders VALUES (1, 1, 5.00, 'upserted') ON CONFLICT (id) DO UPDATE SET status = excluded.status", 1),
    ("INSERT INTO crm.orders SELECT id, customer_id, amount, 'upserted' FROM crm.orders WHERE id = 2 ON CONFLICT (id) DO UPDATE SET status = excluded.status", 2),
    ("INSERT INTO crm.orders AS o SELECT * FROM crm.orders ON CONFLICT (id) DO UPDATE SET status = 'upserted' WHERE o.id = 3", 3),
]


@BOTH
@pytest.mark.parametrize("statement,row", BOUNDED_UPSERTS)
def test_an_upsert_of_bounded_rows_still_runs(sessions, kind, statement, row):
    session = sessions(kind, PIPELINE)
    outcome = session.attempt(statement)
    assert not isinstance(outcome, Exception), outcome
    assert session.raw_rows("SELECT id FROM crm.orders WHERE status = 'upserted'") == [(row,)]
