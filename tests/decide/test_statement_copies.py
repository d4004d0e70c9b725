"""The parse as written and its qualified copy: the analysis copies the statement only when the
masking rewrite reads it, and its copy (``copy_tree``) is the deep copy sqlglot's ``copy()`` makes."""

from __future__ import annotations

import json
import re

import pytest
from sqlglot import exp

from lineage.decide.analysis.statements import split_statements
from lineage.decide.analysis.tree_copy import copy_tree
from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.policy import load_policy_text

from conftest import CORPUS

ANALYST = RunIdentity(principal="analyst@example.com", environment="prod")

# beside the TPC-DS queries: DML, DDL, CTEs, comments, casts (typed nodes), EXPLAIN, file reads
OTHERS = [
    "/* head */ SELECT c_first_name /* tail */, CAST(c_birth_year AS INT) FROM customer -- end",
    "WITH a AS (SELECT * FROM customer) INSERT INTO t SELECT c_customer_sk FROM a",
    "UPDATE customer SET c_email_address = 'x' WHERE c_customer_sk IN (SELECT ca_address_sk FROM customer_address)",
    "CREATE TABLE s AS SELECT c_last_name, count(*) AS n FROM customer GROUP BY 1",
    "DELETE FROM customer USING customer_address WHERE c_current_addr_sk = ca_address_sk",
    "EXPLAIN SELECT c_login FROM customer",
    "SELECT * FROM read_csv('/tmp/x.csv') JOIN customer ON true",
    "SELECT c_customer_sk FROM customer UNION ALL SELECT ca_address_sk FROM customer_address ORDER BY 1 LIMIT 5",
]


def _tpcds() -> tuple[list[str], Catalog]:
    text = (CORPUS / "tpcds_queries.sql").read_text()
    queries = [q.strip().rstrip(";") for q in re.split(r"^-- TPC-DS \d+$", text, flags=re.M) if q.strip()]
    catalog = Catalog.from_mapping(json.loads((CORPUS / "tpcds_schema.json").read_text()), dialect="duckdb")
    return queries, catalog


def _nodes(tree: exp.Expression) -> list[tuple]:
    """Every node as sqlglot's copy() keeps it: type, place under its parent, plain args, meta, comments, type."""
    return [
        (type(node).__name__, type(node.parent).__name__, node.arg_key, node.index,
         {key: value for key, value in node.args.items() if not isinstance(value, (exp.Expr, list))},
         node._meta, node.comments, node._type)
        for node in tree.walk()
    ]


def test_copy_tree_is_sqlglots_deep_copy():
    queries, _ = _tpcds()
    for sql in queries + OTHERS:
        for parsed in split_statements(sql, "duckdb"):
            tree = parsed.expression
            ours, theirs = copy_tree(tree), tree.copy()
            assert ours == theirs and ours.sql("duckdb") == theirs.sql("duckdb") == tree.sql("duckdb")
            assert _nodes(ours) == _nodes(theirs)
            for node in ours.walk():  # every node is new and hangs where its parent says
                assert all(node is not original for original in tree.walk())
                if node.parent is not None:
                    held = node.parent.args[node.arg_key]
                    assert held is node or any(item is node for item in held)


def test_copy_tree_shares_nothing_mutable_with_the_original():
    tree = split_statements("SELECT CAST(a AS INT) /* c */ FROM t", "duckdb")[0].expression
    tree.find(exp.Identifier).meta["nested"] = {"kept": [1]}  # a meta value that is no plain value
    twin = copy_tree(tree)
    twin.find(exp.Identifier).meta["nested"]["kept"].append(2)
    twin.find(exp.Identifier).meta["start"] = -1
    twin.find(exp.Cast).to.set("this", exp.DataType.Type.TEXT)
    twin.expressions[0].comments.append("more")
    twin.find(exp.Table).set("this", exp.to_identifier("other"))
    assert tree.find(exp.Identifier).meta["nested"] == {"kept": [1]} and tree.find(exp.Identifier).meta["start"] != -1
    assert tree.sql("duckdb") == "SELECT CAST(a AS INT) /* c */ FROM t"


@pytest.mark.parametrize("keep", [False, True])
def test_facts_are_the_same_with_or_without_the_copy(keep):
    """Qualifying the parse in place (no masker reads it) proves the same facts as qualifying a copy."""
    queries, catalog = _tpcds()
    engine = Engine(None, catalog, dialect="duckdb", budget=0)
    fields = [name for name in engine.analyze("select 1")[0].__dataclass_fields__ if name not in ("expression", "statement")]
    for sql in queries + OTHERS:
        kept = engine.analyze(sql, keep_statement=True)
        other = engine.analyze(sql, keep_statement=keep)
        for one, two in zip(kept, other):
            assert {name: getattr(one, name) for name in fields} == {name: getattr(two, name) for name in fields}, sql
            assert one.expression.sql("duckdb") == two.expression.sql("duckdb")
        if not keep:
            assert all(facts.statement is None for facts in other)


def test_the_masker_reads_the_statement_as_written_and_only_it_costs_a_copy():
    queries, catalog = _tpcds()
    policy = load_policy_text("classifications:\n  - table: customer\n    columns: {c_email_address: pii.email}\n", "<policy>")
    masking = Engine(policy, catalog, dialect="duckdb")
    plain = Engine(None, catalog, dialect="duckdb")
    assert masking._masker_reads_statement(ANALYST, "duckdb") and not plain._masker_reads_statement(ANALYST, "duckdb")
    assert not Engine(policy, catalog, dialect="duckdb", masker=None)._masker_reads_statement(ANALYST, "duckdb")
    sql = "SELECT c.c_email_address FROM customer AS c"
    facts = masking.analyze(sql)[0]
    assert facts.statement.sql("duckdb") == sql  # untouched by qualification
    assert facts.expression is not facts.statement and "main.customer" in facts.expression.sql("duckdb")
    decision = masking.check(sql, ANALYST)[0]
    assert decision.masked_columns and decision.sql.startswith("SELECT c.c_email_address FROM (SELECT")


def test_only_the_checks_own_facts_are_rewritten_in_place():
    """mask_statement and Engine.decide on facts a caller holds leave facts.statement as parsed (they
    may be decided again); Engine.check hands its own facts over, and masks the same."""
    queries, catalog = _tpcds()
    policy = load_policy_text("classifications:\n  - table: customer\n    columns: {c_email_address: pii.email, c_last_name: pii.name}\n"
                              "masking:\n  rules:\n    - {tags: [pii.name], strategy: redact}\n", "<policy>")
    from lineage.mask.rewrite import mask_statement

    engine = Engine(policy, catalog, dialect="duckdb")
    touching = [sql for sql in queries if "customer " in sql or "customer\n" in sql][:10]
    assert touching
    for sql in touching:
        facts = engine.analyze(sql)[0]
        written = facts.statement.sql("duckdb")
        first = mask_statement(facts, engine.context(ANALYST))
        assert facts.statement.sql("duckdb") == written
        assert engine.decide(facts, ANALYST).sql == first.sql and facts.statement.sql("duckdb") == written
        assert Engine(policy, catalog, dialect="duckdb").check(sql, ANALYST)[0].sql == first.sql
    assert any(mask_statement(engine.analyze(sql)[0], engine.context(ANALYST)).sql for sql in touching)
