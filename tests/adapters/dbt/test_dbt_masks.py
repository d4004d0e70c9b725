"""lineage.adapters.dbt.masks on its own: which masks a statement dbt sent holds, read from the markers the
macros render (the dbt runs in test_dbt_jaffle.py and test_demo.py check the same on real SQL)."""

from __future__ import annotations

from urllib.parse import quote

from lineage.decide.catalog import Catalog
from lineage.adapters.dbt.masks import marker_of, ran_masks
from lineage.decide.engine import Engine
from lineage.policy import load_policy_text

CATALOG = Catalog.from_mapping({"db": {
    "raw": {"customers": {"id": "INTEGER", "email": "VARCHAR", "ssn": "VARCHAR", "city": "VARCHAR"}},
    "staging": {"stg": {"id": "INTEGER", "email": "VARCHAR", "ssn": "VARCHAR", "city": "VARCHAR"}},
}}, dialect="duckdb")
ENGINE = Engine(load_policy_text("version: 1\n", "<masks>"), CATALOG, "duckdb", masker=None)


def marked(column: str, strategy: str, tag: str = "", sql: str | None = None) -> str:
    """What the macros render: the mask behind its always-true marker."""
    body = sql or f"repeat('*', 3) || {column}"
    return f"case when 'lineage_mask?column={quote(column)}&strategy={strategy}&tag={tag}' is not null then ({body}) end"


def masks(sql: str, accept=lambda marker, relation: True) -> set[tuple[str, str, str]]:
    found = ran_masks(sql, "duckdb", lambda text: next(iter(ENGINE.analyze(text)), None), lambda table, column: ("pii.x",), accept)
    return {(m.table, m.column, m.strategy) for m in found}


GOVERNED = ('(select "id", (' + marked('"email"', "email", "pii.email") + ') as "email", (' + marked('"ssn"', "redact") + ') as "ssn", "city" '
            'from "db"."raw"."customers") as c')


def test_a_governed_read_counts_the_masked_columns_the_statement_reads():
    assert masks(f'create table "db"."staging"."stg__dbt_tmp" as (select c.id, c.email, c.city from {GOVERNED})') == {("db.raw.customers", "email", "email")}
    assert masks(f"select * from {GOVERNED}") == {("db.raw.customers", "email", "email"), ("db.raw.customers", "ssn", "redact")}
    assert masks(f"select count(*) from {GOVERNED} where c.ssn is null") == {("db.raw.customers", "ssn", "redact")}
    assert masks(f"select c.id from {GOVERNED}") == set()


def test_mask_calls_mask_the_columns_they_read_even_when_the_mask_reads_none():
    sql = (f'create table "db"."marts"."m__dbt_tmp" as (select c.id, ({marked("c.email", "email")}) as email, '
           f'({marked("c.ssn", "nullify", sql="cast(null as varchar)")}) as ssn, c.city from "db"."staging"."stg" as c)')
    assert masks(sql) == {("db.staging.stg", "email", "email"), ("db.staging.stg", "ssn", "nullify")}


def test_a_value_that_also_reaches_the_output_raw_is_not_masked():
    sql = f'select ({marked("c.email", "email")}) || c.email as e from "db"."staging"."stg" as c'
    assert masks(sql) == set()


def test_markers_the_run_did_not_plan_and_bare_columns_count_for_nothing():
    assert masks(f"select * from {GOVERNED}", accept=lambda marker, relation: marker.strategy == "email") == {("db.raw.customers", "email", "email")}
    assert masks(f'select ({marked("c.email", "email")}) as e from "db"."staging"."stg" as c', accept=lambda marker, relation: False) == set()
    forged = "select case when 'lineage_mask?column=c.email&strategy=email&tag=' is not null then (c.email) end as e from db.staging.stg as c"
    assert masks(forged) == set()
    import sqlglot

    assert marker_of(sqlglot.parse_one("select case when 'x' is not null then (1) end").find(sqlglot.exp.Case)) is None


def test_sql_without_markers_is_not_parsed_again():
    assert masks('select c.email from "db"."staging"."stg" as c') == set()
    assert masks("this is not sql but mentions lineage_mask? anyway") == set()
