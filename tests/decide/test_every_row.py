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


# -- ALTER COLUMN ... TYPE ... USING: every stored value becomes the expression's result ------------


@BOTH
@pytest.mark.parametrize("statement", [
    "ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(10,2) USING NULL",  # the same type: alter_column_type says "widens"
    "ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(12,2) USING amount * 0",
    "ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(12,2) USING amount::int",  # a cast, but not to the new type
])
def test_a_type_change_that_computes_new_values_is_refused(sessions, kind, statement):
    session = sessions(kind, PIPELINE)
    before = _orders(session)
    outcome = session.attempt(statement)
    assert isinstance(outcome, REFUSED), outcome
    assert "rewrite_column" in [f.rule for f in outcome.decision.findings]
    assert _orders(session) == before, f"{statement!r} changed every row of crm.orders"


@BOTH
def test_a_widening_type_change_that_casts_the_column_still_runs(sessions, kind):
    session = sessions(kind, PIPELINE)
    before = _orders(session)
    outcome = session.attempt("ALTER TABLE crm.orders ALTER COLUMN amount TYPE numeric(12,2) USING amount::numeric(12,2)")
    assert not isinstance(outcome, Exception), outcome
    assert _orders(session) == before


# -- DuckDB's CREATE OR REPLACE TABLE: a DROP TABLE of what is there, then a CREATE -----------------


@pytest.mark.parametrize("statement", [
    "CREATE OR REPLACE TABLE crm.orders AS SELECT * FROM crm.orders WHERE false",  # a TRUNCATE
    "CREATE OR REPLACE TABLE crm.orders (id INTEGER, customer_id INTEGER, amount DECIMAL(10,2), status VARCHAR)",
    "CREATE OR REPLACE TABLE crm.orders AS SELECT * FROM crm.orders",  # the same rows, but dropped first: still a drop
])
def test_duckdb_replacing_an_existing_table_is_refused(sessions, statement):
    session = sessions("duckdb", PIPELINE)
    before = _orders(session)
    outcome = session.attempt(statement)
    assert isinstance(outcome, REFUSED), outcome
    assert "replace_table" in [f.rule for f in outcome.decision.findings]
    assert _orders(session) == before, f"{statement!r} emptied or rewrote crm.orders"


def test_duckdb_create_or_replace_of_a_new_table_still_runs(sessions):
    session = sessions("duckdb", PIPELINE)
    outcome = session.attempt("CREATE OR REPLACE TABLE mart.fresh AS SELECT 1 AS x")
    assert not isinstance(outcome, Exception), outcome
    assert session.raw_rows("SELECT x FROM mart.fresh") == [(1,)]


# -- WHERE clauses true for every value of the column's type ----------------------------------------

TYPE_TAUTOLOGIES = [  # crm.orders: id INTEGER, amount NUMERIC(10,2)
    "DELETE FROM crm.orders WHERE id <> 1.5",
    "DELETE FROM crm.orders WHERE id NOT IN (0.5)",
    "DELETE FROM crm.orders WHERE id <> 2147483648",
    "DELETE FROM crm.orders WHERE id::bigint < 9999999999",
    "DELETE FROM crm.orders WHERE amount >= -99999999.99",
    "UPDATE crm.orders SET status = NULL WHERE id <> 1.5",
]


@BOTH
@pytest.mark.parametrize("statement", TYPE_TAUTOLOGIES)
def test_a_condition_true_for_every_value_of_the_type_is_refused(sessions, kind, statement):
    session = sessions(kind, PIPELINE)
    before = _orders(session)
    outcome = session.attempt(statement)
    assert isinstance(outcome, REFUSED), outcome
    assert _orders(session) == before, f"{statement!r} changed every row of crm.orders"


@BOTH
@pytest.mark.parametrize("statement,left", [
    ("DELETE FROM crm.orders WHERE id <> 1", 1),
    ("DELETE FROM crm.orders WHERE id::bigint > 1", 1),
    ("DELETE FROM crm.orders WHERE id NOT IN (1, 2)", 2),
])
def test_the_same_shapes_with_a_value_of_the_type_still_run(sessions, kind, statement, left):
    session = sessions(kind, PIPELINE)
    outcome = session.attempt(statement)
    assert not isinstance(outcome, Exception), outcome
    assert session.raw_rows("SELECT count(*) FROM crm.orders")[0][0] == left


CATALOG = {"crm": {"orders": {"id": "integer", "customer_id": "bigint", "amount": "numeric(10,2)", "status": "varchar(20)",
                              "price": "double precision", "code": "text", "created": "timestamp",
                              "big": "HUGEINT", "wide": "numeric(60,0)"}}}


def _reason(condition: str, catalog: dict | None = CATALOG) -> str | None:
    from lineage.decide.analysis import analyze
    from lineage.decide.catalog import Catalog
    from lineage.decide.rules.row_filter import unfiltered_reason

    loaded = Catalog.from_mapping(catalog or {}, dialect="postgres")
    facts = analyze(f"DELETE FROM crm.orders WHERE {condition}", "postgres", loaded)[0]
    return unfiltered_reason(facts.row_changes[0], loaded.columns, loaded.default_schema)


@pytest.mark.parametrize("condition", [
    "id <> 1.5", "id NOT IN (0.5, 7.25)", "id <> 2147483648", "id <> -2147483649", "NOT (id = 1.5)", "id <> '1.5'",
    "id::bigint < 9999999999", "id::bigint >= -2147483648", "id::numeric <> 0.5", "(id::bigint)::numeric(20,0) > -3000000000",
    "amount >= -99999999.99", "amount > -99999999.995", "amount <> 0.001", "amount <= 99999999.99 OR amount IS NULL OR amount > 0",
    "amount::int > -100000000", "customer_id > -9223372036854775809", "big >= -170141183460469231731687303715884105728", "id BETWEEN -2147483648 AND 2147483647",
    "id >= -2147483647.5::int", "id BETWEEN -2147483648.4::int AND 2147483647",  # the cast rounds the written bound
    "id::text <> 'abc'",  # a number as text is never 'abc'
    "id <> 1.00000000000000000000000000000000000000000000000001",  # no rounding of long literals
    "id > -2147483648.00000000000000000000000000000000000000000000001",  # nor of negative ones
    "wide <= " + "9" * 60,  # numeric(60,0)'s largest value, exactly
])
def test_comparisons_that_hold_for_every_value_of_the_type_filter_nothing(condition):
    reason = _reason(condition)
    assert reason is not None and "is no filter" in reason, reason


@pytest.mark.parametrize("condition", ["id > 5", "id <> 5", "status <> 'done'", "created < '2024-01-01'"])
def test_a_range_on_a_column_of_unknown_type_is_refused_with_advice(condition):
    if condition.startswith(("status", "created")):
        assert _reason(condition) is None  # typed: a filter
        reason = _reason(condition, {"crm": {"orders": {"id": "UNKNOWN", "status": "UNKNOWN", "created": "UNKNOWN"}}})
    else:
        reason = _reason(condition, None)
    assert reason is not None and "is unknown" in reason, reason


@pytest.mark.parametrize("condition", [
    "id <> 1", "id > -2147483648", "id < 2147483647", "id NOT IN (1, 2)", "id::bigint > 5", "id::numeric <> 1",
    "amount > -99999999.99", "amount <> 0.01", "amount::int > -99999999", "customer_id > -9223372036854775808",
    "price > -1e300", "big > 5", "code <> 'x'", "status < 'm'", "created < '2024-01-01'", "id = 7", "id IN (1.5, 2)",
])
def test_comparisons_that_leave_a_value_of_the_type_out_filter(condition):
    assert _reason(condition) is None


# -- a masked identity writing back what it reads masked ---------------------------------------------

MASKED_WRITE_BACKS = [
    "INSERT INTO crm.customers SELECT * FROM crm.customers WHERE id = 1 ON CONFLICT (id) DO UPDATE SET ssn = excluded.ssn",
    "UPDATE crm.customers SET ssn = (SELECT c.ssn FROM crm.customers c WHERE c.id = 1) WHERE id = 1",
    "UPDATE crm.customers SET ssn = ssn WHERE id = 1",
]


@BOTH
@pytest.mark.parametrize("statement", MASKED_WRITE_BACKS)
def test_a_masked_identity_cannot_write_masked_values_over_one_raw_row(sessions, kind, statement):
    session = sessions(kind)  # reads pii.ssn masked
    outcome = session.attempt(statement)
    assert isinstance(outcome, REFUSED), outcome
    assert "masked_overwrite" in [f.rule for f in outcome.decision.findings]
    assert session.raw_rows("SELECT ssn FROM crm.customers WHERE id = 1") == [(ALICE_SSN,)]


@BOTH
def test_a_masked_identity_still_updates_with_values_it_writes_itself(sessions, kind):
    session = sessions(kind)
    outcome = session.attempt("UPDATE crm.customers SET ssn = '000-00-0000' WHERE id = 1")
    assert not isinstance(outcome, Exception), outcome
    assert session.raw_rows("SELECT ssn FROM crm.customers WHERE id = 1") == [("000-00-0000",)]


def test_an_update_from_a_derived_table_is_judged():
    """A derived table's columns resolve while the judgement is set up (it raised AttributeError)."""
    from lineage.decide.analysis import analyze
    from lineage.decide.catalog import Catalog
    from lineage.decide.rules.row_filter import unfiltered_reason

    catalog = Catalog.from_mapping({**CATALOG, "staging": {"o": {"id": "integer"}}}, dialect="postgres")
    judge = lambda sql: unfiltered_reason(analyze(sql, "postgres", catalog)[0].row_changes[0], catalog.columns, catalog.default_schema)  # noqa: E731
    assert judge("UPDATE crm.orders SET amount = 0 FROM (SELECT id FROM staging.o) s WHERE orders.id = s.id") is None
    assert "is no filter" in judge("UPDATE crm.orders SET amount = 0 FROM (SELECT id FROM crm.orders) s WHERE orders.id = s.id")
