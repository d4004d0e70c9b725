"""The analysis: statement kinds, tables, column lineage, dbt-shaped SQL, dialects, the time budget."""

from __future__ import annotations

import json
import re

import pytest

from lineage.decide.analysis import analyze
from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action

from conftest import CORPUS


def one(sql, catalog, dialect="postgres", **kwargs):
    facts = analyze(sql, dialect, catalog, **kwargs)
    assert len(facts) == 1
    return facts[0]


def test_several_statements_each_analysed_even_when_one_is_broken(catalog):
    facts = analyze("select 1; selec 2; drop table crm.orders; select 'a;b'", "postgres", catalog)
    assert [f.kind for f in facts] == ["select", "unparseable", "drop_table", "select"]
    assert facts[3].sql == "select 'a;b'"
    assert "dollar" not in (facts[1].parse_error or "")


def test_dollar_quoted_body_is_one_statement(catalog):
    facts = analyze("DO $$ BEGIN DELETE FROM crm.orders; END $$; SELECT 1", "postgres", catalog)
    assert [f.kind for f in facts] == ["do_block", "select"]


def test_tables_are_fully_qualified_and_ctes_are_not_tables(catalog):
    facts = one("WITH recent AS (SELECT * FROM crm.orders WHERE amount > 10) INSERT INTO mart.order_totals SELECT customer_id, sum(amount) FROM recent GROUP BY 1", catalog)
    assert facts.reads == ("analytics.crm.orders",)
    assert facts.writes == ("analytics.mart.order_totals",)
    assert facts.column_lineage == {
        "analytics.mart.order_totals.customer_id": ["analytics.crm.orders.customer_id"],
        "analytics.mart.order_totals.total": ["analytics.crm.orders.amount"],
    }
    assert facts.lineage.edges["analytics.mart.order_totals.total"] == {"analytics.crm.orders.amount": "AGGREGATION"}


def test_lineage_passes_through_select_star_and_cte_chains(catalog):
    facts = one(
        """
        with base as (select * from crm.customers),
             renamed as (select id as customer_id, email as contact from base),
             final as (select * from renamed)
        select * from final
        """,
        catalog,
    )
    assert facts.column_lineage == {"customer_id": ["analytics.crm.customers.id"], "contact": ["analytics.crm.customers.email"]}
    assert facts.star_reads == ("analytics.crm.customers",)


def test_lineage_through_union_subquery_and_join(catalog):
    facts = one(
        """
        select c.name, (select max(o.amount) from crm.orders o where o.customer_id = c.id) as biggest
        from crm.customers c
        union all
        select status, amount from crm.orders
        """,
        catalog,
    )
    assert facts.column_lineage == {
        "name": ["analytics.crm.customers.name", "analytics.crm.orders.status"],
        "biggest": ["analytics.crm.orders.amount"],
    }


def test_lineage_reaches_scalar_subqueries_nested_in_expressions(catalog):
    facts = one(
        """
        select case when (select count(*) from crm.orders) > 3 then (select max(o.amount) from crm.orders o) end as bucket,
               coalesce((select min(c.email) from crm.customers c), 'none') as first_contact
        """,
        catalog,
    )
    assert facts.column_lineage == {"bucket": ["analytics.crm.orders.amount"], "first_contact": ["analytics.crm.customers.email"]}


@pytest.mark.parametrize(
    "sql,sources",
    [
        ("INSERT INTO mart.contacts SELECT c.id, l.e FROM crm.customers c, LATERAL (SELECT c.email AS e) l", {"crm.customers.email": "IDENTITY"}),
        ("INSERT INTO mart.contacts SELECT c.id, u.v FROM crm.customers c CROSS JOIN unnest(array[c.email]) AS u(v)", {"crm.customers.email": "TRANSFORMATION"}),
        # a column alias list renames by position: z.m is the third column, email
        ("INSERT INTO mart.contacts SELECT z.i, z.m FROM crm.customers AS z(i, n, m)", {"crm.customers.email": "IDENTITY"}),
        ("INSERT INTO mart.contacts VALUES (1, 'a@b'), (2, (SELECT max(email) FROM crm.customers))", {"crm.customers.email": "AGGREGATION"}),
    ],
)
def test_lineage_through_lateral_table_functions_alias_lists_and_values(catalog, sql, sources):
    facts = one(sql, catalog)
    assert facts.lineage_complete
    assert facts.lineage.edges["analytics.mart.contacts.email"] == {f"analytics.{source}": subtype for source, subtype in sources.items()}


def test_a_whole_row_reference_carries_every_column(catalog):
    facts = one("INSERT INTO mart.contacts SELECT c.id, row_to_json(c)::text FROM crm.customers c", catalog)
    assert set(facts.column_lineage["analytics.mart.contacts.email"]) == {f"analytics.crm.customers.{column}" for column in catalog.columns("crm.customers")}


def test_create_table_as_values_names_columns_like_the_database(catalog):
    assert one("CREATE TABLE mart.probe AS VALUES ((SELECT max(email) FROM crm.customers))", catalog).column_lineage == {
        "analytics.mart.probe.column1": ["analytics.crm.customers.email"]}
    assert one("CREATE TABLE mart.probe AS VALUES ((SELECT max(email) FROM crm.customers))", catalog, dialect="duckdb").column_lineage == {
        "analytics.mart.probe.col0": ["analytics.crm.customers.email"]}


def test_an_unresolved_column_makes_the_lineage_incomplete(catalog):
    facts = one("INSERT INTO mart.contacts SELECT c.id, c.nickname FROM crm.customers c", catalog)
    assert not facts.lineage_complete and "nickname" in facts.lineage_note


def test_a_cte_shadowing_a_table_reads_the_table_inside_its_body(catalog):
    facts = one("WITH customers AS (SELECT id, email FROM crm.customers) SELECT email FROM customers", catalog)
    assert facts.reads == ("analytics.crm.customers",)
    assert facts.column_lineage == {"email": ["analytics.crm.customers.email"]}


@pytest.mark.parametrize(
    "sql,target,sources",
    [
        ("UPDATE crm.orders SET status = c.city FROM crm.customers c WHERE c.id = orders.customer_id", "analytics.crm.orders.status", ["analytics.crm.customers.city"]),
        (
            "MERGE INTO mart.contacts t USING (SELECT id, email FROM crm.customers) s ON t.id = s.id "
            "WHEN MATCHED THEN UPDATE SET email = s.email WHEN NOT MATCHED THEN INSERT (id, email) VALUES (s.id, s.email)",
            "analytics.mart.contacts.email",
            ["analytics.crm.customers.email"],
        ),
        ("INSERT INTO mart.contacts (email, id) SELECT lower(email), id FROM crm.customers", "analytics.mart.contacts.email", ["analytics.crm.customers.email"]),
        ("CREATE TABLE mart.x AS SELECT name || ' <' || email || '>' AS label FROM crm.customers", "analytics.mart.x.label", ["analytics.crm.customers.email", "analytics.crm.customers.name"]),
        ("CREATE VIEW mart.v AS SELECT * FROM crm.orders", "analytics.mart.v.amount", ["analytics.crm.orders.amount"]),
        ("SELECT id, email INTO mart.copy FROM crm.customers", "analytics.mart.copy.email", ["analytics.crm.customers.email"]),
    ],
)
def test_column_lineage_for_every_write(catalog, sql, target, sources):
    facts = one(sql, catalog)
    assert facts.column_lineage[target] == sources, facts.column_lineage


def test_data_modifying_cte_is_a_write(catalog):
    facts = one("WITH gone AS (DELETE FROM crm.orders RETURNING *) SELECT count(*) FROM gone", catalog)
    assert facts.writes == ("analytics.crm.orders",)
    assert [(change.kind, change.table, change.condition) for change in facts.row_changes] == [("delete", "analytics.crm.orders", None)]


@pytest.mark.parametrize(
    "sql,change",
    [
        ("ALTER TABLE crm.customers DROP COLUMN email", {"change": "dropped_column", "column": "email", "old_type": "text"}),
        ("ALTER TABLE crm.customers ADD COLUMN tier int", {"change": "added_column", "column": "tier", "new_type": "INT"}),
        ("ALTER TABLE crm.customers RENAME COLUMN email TO mail", {"change": "renamed_column", "column": "email", "new_name": "mail"}),
        ("ALTER TABLE crm.customers ALTER COLUMN age TYPE bigint", {"change": "retyped_column", "column": "age", "old_type": "integer", "new_type": "BIGINT"}),
        ("DROP TABLE crm.orders", {"change": "dropped_table", "table": "analytics.crm.orders"}),
        ("TRUNCATE crm.orders", {"change": "truncated_table", "table": "analytics.crm.orders"}),
        ("CREATE OR REPLACE TABLE crm.orders AS SELECT id, amount FROM crm.orders", {"change": "dropped_column", "column": "customer_id"}),
    ],
)
def test_schema_changes(catalog, sql, change):
    facts = one(sql, catalog)
    found = [c.to_dict() for c in facts.schema_changes]
    assert any(all(item.get(k) == v for k, v in change.items()) for item in found), found


@pytest.mark.parametrize("dialect", ["postgres", "duckdb", "snowflake", "bigquery"])
def test_dialects(dialect):
    catalog = Catalog.from_mapping({"proj": {"sales": {"orders": {"id": "int", "amount": "float"}}}}, dialect=dialect)
    quote = "`" if dialect == "bigquery" else '"'
    sql = f"INSERT INTO {quote}proj{quote}.sales.totals SELECT id, amount * 2 AS doubled FROM proj.sales.orders"
    facts = one(sql, catalog, dialect)
    assert facts.kind == "insert"
    assert facts.reads[0].lower() == "proj.sales.orders"
    assert facts.writes[0].lower() == "proj.sales.totals"
    targets = {k.lower(): [s.lower() for s in v] for k, v in facts.column_lineage.items()}
    assert targets["proj.sales.totals.doubled"] == ["proj.sales.orders.amount"]


def test_snowflake_identifiers_are_case_insensitive_upper():
    catalog = Catalog.from_mapping({"DB": {"CRM": {"CUSTOMERS": {"ID": "NUMBER", "EMAIL": "VARCHAR"}}}}, dialect="snowflake")
    facts = one("select email from crm.customers", catalog, "snowflake")
    assert facts.column_lineage == {"EMAIL": ["DB.CRM.CUSTOMERS.EMAIL"]}


def jaffle_statements():
    return json.loads((CORPUS / "jaffle_shop_duckdb_build_statements.json").read_text())


def jaffle_catalog():
    columns = {
        "raw_customers": {"id": "INTEGER", "first_name": "VARCHAR", "last_name": "VARCHAR"},
        "raw_orders": {"id": "INTEGER", "user_id": "INTEGER", "order_date": "DATE", "status": "VARCHAR"},
        "raw_payments": {"id": "INTEGER", "order_id": "INTEGER", "payment_method": "VARCHAR", "amount": "INTEGER"},
        "stg_customers": {"customer_id": "INTEGER", "first_name": "VARCHAR", "last_name": "VARCHAR"},
        "stg_orders": {"order_id": "INTEGER", "customer_id": "INTEGER", "order_date": "DATE", "status": "VARCHAR"},
        "stg_payments": {"payment_id": "INTEGER", "order_id": "INTEGER", "payment_method": "VARCHAR", "amount": "DOUBLE"},
    }
    return Catalog.from_mapping({"jaffle_shop": {"main": columns}}, dialect="duckdb")


def jaffle_node_identity(sql: str) -> RunIdentity:
    """dbt as ``lineage dbt``'s sidecar judges it: the node in dbt's query comment, and its relation."""
    text = sql.lstrip()
    node = json.loads(text[2: text.index("*/")]).get("node_id") if text.startswith("/*") else None
    attributes = {"dbt_relation": f"jaffle_shop.main.{node.rsplit('.', 1)[-1]}"} if node else {}
    return RunIdentity(principal="svc:dbt", environment="prod", source="dbt", attributes=attributes)


def test_every_statement_of_a_real_dbt_build_is_analysed():
    catalog = jaffle_catalog()
    engine = Engine(None, catalog, dialect="duckdb")
    kinds = {}
    for sql in jaffle_statements():
        for decision in engine.check(sql, jaffle_node_identity(sql)):
            kinds.setdefault(decision.facts.kind, 0)
            kinds[decision.facts.kind] += 1
            if decision.facts.kind in ("create_view", "create_table_as"):
                assert decision.facts.column_lineage, sql
                assert decision.facts.lineage_complete, decision.facts.lineage_note
                assert decision.action in (Action.ALLOW, Action.WARN), decision.to_dict()
            if decision.facts.kind in ("alter_table", "alter_view", "drop_table", "drop_view"):
                assert decision.action == Action.ALLOW, decision.to_dict()  # dbt's swap and cleanup
    assert kinds["create_view"] == 3 and kinds["create_table_as"] == 2
    assert kinds["transaction"] > 10


def test_dbt_duckdb_parenthesised_ctas_lineage_names_the_model_not_the_tmp_relation():
    sql = next(s for s in jaffle_statements() if '"main"."customers__dbt_tmp"' in s and "create  table" in s)
    facts = one(sql, jaffle_catalog(), "duckdb")
    assert facts.writes == ("jaffle_shop.main.customers",)
    lineage = facts.column_lineage
    assert lineage["jaffle_shop.main.customers.first_name"] == ["jaffle_shop.main.stg_customers.first_name"]
    assert "jaffle_shop.main.stg_payments.amount" in lineage["jaffle_shop.main.customers.customer_lifetime_value"]


def test_lineage_falls_back_to_table_level_past_the_budget(catalog):
    ctes = ",\n".join(f"c{i} AS (SELECT * FROM {'crm.customers' if i == 0 else f'c{i-1}'})" for i in range(60))
    sql = f"WITH {ctes} SELECT * FROM c59"
    facts = one(sql, catalog, budget=1e-9)
    assert facts.reads == ("analytics.crm.customers",)
    assert not facts.lineage_complete
    assert "time budget" in facts.lineage_note
    engine = Engine(None, catalog, budget=1e-9)
    decision = engine.check(sql, RunIdentity(principal="x"))[0]
    assert any(f.rule == "lineage_incomplete" and "time budget" in f.message for f in decision.findings)


def test_tpcds_lineage_quality():
    schema = json.loads((CORPUS / "tpcds_schema.json").read_text())
    catalog = Catalog.from_mapping(schema, dialect="duckdb")
    text = (CORPUS / "tpcds_queries.sql").read_text()
    queries = [q.strip().rstrip(";") for q in re.split(r"^-- TPC-DS \d+$", text, flags=re.M) if q.strip()]
    traced = total = 0
    for sql in queries:
        # quality, not speed: a budget no pause of a long test session reaches (speed is bench_check.py's)
        facts = analyze(sql, "duckdb", catalog, budget=60.0)[0]
        assert facts.kind == "select" and facts.lineage_complete, facts.lineage_note
        for sources in facts.column_lineage.values():
            total += 1
            traced += bool(sources)
    assert total >= 590
    assert traced >= 540, (traced, total)
