"""The positive definition of a filter (lineage.decide.rules.row_filter): members of "filters nothing", and real filters."""

from __future__ import annotations

import pytest

from lineage.decide.analysis import analyze
from lineage.decide.rules.row_filter import unfiltered_reason


def reasons(sql: str, catalog) -> list[str | None]:
    return [
        unfiltered_reason(change, catalog.columns, catalog.default_schema)
        for facts in analyze(sql, "postgres", catalog)
        for change in facts.row_changes
    ]


FILTERS_NOTHING = [
    # the row compared with itself, however it is dressed up
    "id = id", "id::text = id::text", "id = id + 0", "coalesce(id, 0) = coalesce(id, 0)", "(id, id) = (id, id)",
    "upper(id::text) = upper(id::text)", "id IS NOT DISTINCT FROM id", "(id = id) IS NOT FALSE", "id = greatest(id, id)",
    "id IN (id)", "id = ANY(ARRAY[id])", "status = status || ''", "(id, 1) = (id, 1)",
    # true for every value
    "id IS NOT NULL", "NOT (id IS NULL)", "(id = 5) IS NOT NULL", "id * 0 = 0", "status LIKE '%'", "status ILIKE '%%'",
    "status LIKE '_%'", "NOT (id = NULL)", "id <> NULL", "id <> ALL('{}')", "id <> ALL($1)", "id = ALL('{}')",
    # covering by literals or the type's range
    "id < 5 OR id >= 5", "id = 5 OR id <> 5", "id IN (1) OR id NOT IN (1)", "NOT (id < 5 AND id > 10)", "id NOT BETWEEN 10 AND 1",
    "id >= -2147483648", "id BETWEEN -2147483648 AND 2147483647", "id > -1e100", "status >= ''", "amount > '-infinity'",
    "amount < 'NaN'", "id::boolean IN (true, false)", "status = 'a' OR status IS DISTINCT FROM 'a'", "id = $1 OR id <> $1",
    "id = 1 OR (id <> 1 AND status = status)",
    # the same table, unrestricted
    "id IN (SELECT id FROM crm.orders)", "id = ANY(ARRAY(SELECT id FROM crm.orders))", "id = ANY(ARRAY(SELECT o2.id FROM crm.orders o2))",
    "id <= (SELECT max(id) FROM crm.orders)", "id IN (SELECT id FROM crm.orders LIMIT ALL)", "id IN (SELECT id FROM crm.orders LIMIT NULL)",
    "id IN (SELECT id FROM crm.orders WHERE id IS NOT NULL)", "(id, status) IN (SELECT id, status FROM crm.orders)",
    "EXISTS (SELECT 1 FROM crm.orders o2 WHERE o2.id = orders.id)",
    "id = (SELECT o2.id FROM crm.orders o2 WHERE o2.id = orders.id)", "id IN (SELECT id FROM orders)",
    # the target's own value passed through a subquery
    "id = (SELECT orders.id)", "id IN (SELECT orders.id FROM crm.customers)",
    # subqueries that do not depend on the row, or always return a row
    "EXISTS (SELECT 1 FROM crm.customers)", "(SELECT count(*) FROM crm.customers) > 0", "1 IN (1, 2)", "true", "1 = 1", "'a' = 'a' OR status = 'x'",
    "EXISTS (SELECT count(*) FROM crm.customers c WHERE c.id = orders.customer_id)",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id HAVING true)",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id GROUP BY ())",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id OR orders.customer_id IS NOT NULL)",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id UNION SELECT 1)",
    # negated subqueries that could be empty for every row
    "NOT EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id AND c.id <> c.id)",
    "NOT EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id LIMIT 0)",
    "id NOT IN (SELECT id FROM crm.customers WHERE false)", "id NOT IN (SELECT id FROM generate_series(1, 0) g(id))",
    "id <> ALL(ARRAY(SELECT id FROM crm.customers WHERE 1 = 0))",
    "customer_id IN (SELECT id FROM crm.customers) OR customer_id NOT IN (SELECT id FROM crm.customers)",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id) OR NOT EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id)",
    # shapes the judgement does not know are no filter
    "status ~ 'x'", "status SIMILAR TO '%'", "length(status) >= 0", "CASE WHEN id = 5 THEN true ELSE true END",
]

FILTERS = [
    "id = 7", "id = $1", "id = %s", "id = %(id)s", "id = ?", "status = 'x'", "status <> 'done'", "status IS NULL", "id IN (1, 2, 3)",
    "id NOT IN (1, 2)", "id < 5 OR id > 10", "id BETWEEN 1 AND 100", "id = 7 AND id = id", "status = 'a' OR amount > 5",
    "lower(status) = 'x'", "id::text = '5'", "(id, customer_id) IN ((1, 2), (3, 4))", "(id, customer_id) = (1, 2)",
    "id = ANY($1)", "id = ANY(ARRAY[1, 2])", "id = ANY('{1,2}')", "id <> ALL(ARRAY[1, 2])", "status LIKE 'a%'", "status NOT LIKE '%'",
    "1 = 0", "false", "id = NULL", "NULL",
    "customer_id IN (SELECT id FROM crm.customers WHERE city = 'Oslo')", "customer_id NOT IN (SELECT id FROM crm.customers)",
    "customer_id = ANY(ARRAY(SELECT id FROM crm.customers))", "customer_id = (SELECT max(id) FROM crm.customers)",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id AND c.city = 'Oslo')",
    "EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id)",
    "NOT EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = orders.customer_id)",
    "id IN (SELECT id FROM crm.orders WHERE status = 'x')", "id IN (SELECT id FROM crm.orders ORDER BY id LIMIT 10)",
    "id IN (SELECT o2.id FROM crm.orders o2 WHERE o2.amount > 100)",
]


@pytest.mark.parametrize("where", FILTERS_NOTHING)
def test_a_condition_that_filters_nothing_is_no_where(catalog, where):
    assert reasons(f"DELETE FROM crm.orders WHERE {where}", catalog)[0], where
    assert reasons(f"UPDATE crm.orders SET status = 'x' WHERE {where}", catalog)[0], where


@pytest.mark.parametrize("where", FILTERS)
def test_a_filter_is_a_filter(catalog, where):
    assert reasons(f"DELETE FROM crm.orders WHERE {where}", catalog) == [None], where


@pytest.mark.parametrize(
    "sql,filters",
    [
        ("DELETE FROM crm.orders", False),
        ("MERGE INTO crm.orders t USING crm.customers s ON true WHEN MATCHED THEN DELETE", False),
        ("MERGE INTO crm.orders t USING crm.customers s ON 1 = 1 WHEN MATCHED AND t.id = t.id THEN UPDATE SET status = 'x'", False),
        ("MERGE INTO crm.orders t USING crm.orders s ON t.id = s.id WHEN MATCHED THEN DELETE", False),
        ("MERGE INTO crm.orders t USING (SELECT * FROM crm.orders) s ON t.id = s.id WHEN MATCHED THEN DELETE", False),
        ("MERGE INTO crm.orders t USING crm.customers s ON t.customer_id = s.id WHEN MATCHED THEN UPDATE SET status = 'x'", True),
        ("MERGE INTO crm.orders t USING crm.customers s ON true WHEN MATCHED AND t.status = 'x' THEN DELETE", True),
        ("DELETE FROM crm.orders o USING crm.customers c WHERE o.customer_id = c.id", True),
        ("DELETE FROM crm.orders a USING crm.orders b WHERE a.id = b.id", False),
        ("DELETE FROM crm.orders a USING crm.orders b WHERE a.id <> b.id", False),
        ("DELETE FROM crm.orders a USING crm.orders b WHERE a.id <= b.id AND a.status = b.status", False),
        # deduplication: the row with the largest id of each group stays
        ("DELETE FROM crm.orders a USING crm.orders b WHERE a.id < b.id AND a.status = b.status", True),
        ("DELETE FROM crm.orders a WHERE EXISTS (SELECT 1 FROM crm.orders b WHERE b.status = a.status AND b.id > a.id)", True),
        ("DELETE FROM crm.orders a USING crm.orders b WHERE a.id < b.customer_id", False),
        ("DELETE FROM crm.orders a USING crm.orders b WHERE a.id::text < b.id::text", False),
        ("DELETE FROM crm.orders o USING (VALUES (1), (2)) v(x) WHERE o.id = v.x", True),
        ("DELETE FROM crm.orders o USING generate_series(1, 3) g WHERE o.id = g", True),
        ("UPDATE crm.orders SET status = 'x' FROM crm.customers c WHERE orders.customer_id = c.id AND c.city = 'Oslo'", True),
        ("UPDATE crm.orders SET status = 'x' FROM (SELECT * FROM crm.orders) s WHERE orders.id = s.id", False),
        ("WITH d AS (SELECT id FROM crm.customers WHERE city = 'Oslo') DELETE FROM crm.orders WHERE customer_id IN (SELECT id FROM d)", True),
        ("WITH d AS (SELECT id FROM crm.orders) DELETE FROM crm.orders WHERE id IN (SELECT id FROM d)", False),
        ("WITH d AS (SELECT id FROM crm.orders WHERE status = 'x') DELETE FROM crm.orders WHERE id IN (SELECT id FROM d)", True),
        ("WITH gone AS (DELETE FROM crm.orders WHERE id IS NOT NULL RETURNING id) SELECT count(*) FROM gone", False),
        ("SET search_path = crm; DELETE FROM orders WHERE id IN (SELECT id FROM crm.orders)", False),
    ],
)
def test_joins_merge_and_ctes(catalog, sql, filters):
    found = [reason for reason in reasons(sql, catalog)]
    assert found and all((reason is None) == filters for reason in found), found


def test_merge_that_only_inserts_changes_no_rows(catalog):
    assert reasons("MERGE INTO crm.orders t USING crm.customers s ON t.customer_id = s.id WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)", catalog) == []


def test_an_unqualified_name_the_catalog_cannot_place_is_not_proof(catalog):
    # crm.unknown's columns are not in the catalog: `id` may be its own or the target's (PostgreSQL
    # resolves it to the target when the inner table has no such column: every row then matches)
    assert reasons("DELETE FROM crm.orders WHERE id IN (SELECT id FROM crm.unknown)", catalog)[0]
    assert reasons("DELETE FROM crm.orders WHERE id IN (SELECT u.id FROM crm.unknown u)", catalog) == [None]
    # with a single relation the server has nothing else to resolve a bare name to
    assert reasons("DELETE FROM crm.unknown WHERE id = 3", catalog) == [None]


def test_the_reason_advises_qualifying_what_the_catalog_cannot_place(catalog):
    reason = reasons("DELETE FROM crm.orders WHERE id IN (SELECT id FROM crm.unknown)", catalog)[0]
    assert "the catalog cannot tell which table id belong(s) to: qualify" in reason


def test_the_reason_says_what_a_filter_is(catalog):
    reason = reasons("DELETE FROM crm.orders WHERE id::text = id::text", catalog)[0]
    assert "is no filter" in reason and "a literal, a parameter or a value from another relation" in reason
    assert reasons("DELETE FROM crm.orders WHERE 1 = 1", catalog)[0] == "WHERE ? = ? is always true"  # literals as ? (lineage.disclosure)
    assert reasons("DELETE FROM crm.orders", catalog)[0] == "no WHERE clause"


def test_a_quoted_column_is_not_the_unquoted_one():
    from lineage.decide.catalog import Catalog

    catalog = Catalog.from_mapping({"analytics": {"crm": {"orders": {"id": "int"}, "other": {"ID": "int"}}}}, dialect="postgres")
    # other has "ID", not id: the server resolves the inner id to orders.id, true for every row
    assert reasons("DELETE FROM crm.orders WHERE id IN (SELECT id FROM crm.other)", catalog)[0]
    assert reasons('DELETE FROM crm.orders WHERE id IN (SELECT "ID" FROM crm.other)', catalog) == [None]
