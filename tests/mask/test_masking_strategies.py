"""Every masking strategy runs on real PostgreSQL 15 and DuckDB, and writes SQL Snowflake and
BigQuery accept (parsed back with sqlglot); keyed ones match Python's HMAC; the policy checks
their arguments when it loads."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from lineage.mask.keys import KeyUnavailable, derive_key, load_key
from lineage.mask.strategies import STRATEGIES, STRATEGY_NAMES, MaskError, mask_expression
from lineage.policy import PolicyError, load_policy_text
from lineage.policy.model import KeySource

KEY = b"0123456789abcdef0123456789abcdef"

# strategy, args, column type, input values -> expected outputs (None: checked by a predicate below)
CASES = [
    ("nullify", {}, "numeric(12,2)", [Decimal("85000.50"), None], [None, None]),
    ("type_default", {}, "numeric(12,2)", [Decimal("85000.50"), None], [Decimal("0"), None]),
    ("type_default", {}, "text", ["Alice", None], ["XXXX", None]),
    ("type_default", {}, "date", [datetime.date(1987, 6, 15)], [datetime.date(1900, 1, 1)]),
    ("type_default", {}, "boolean", [True], [False]),
    ("constant", {"value": "REDACTED"}, "text", ["Alice", None], ["REDACTED", None]),
    ("constant", {"value": 7}, "integer", [42], [7]),
    ("redact", {}, "text", ["Ann-Marie O'Neil, 42", "Müller\t7", None], ["Xxx-Xxxxx X'Xxxx, 00", "Xxxxxxx0", None]),
    ("show_first", {"chars": 2}, "text", ["Alice", "Al", "A", None], ["Al***", "**", "*", None]),
    ("show_last", {"chars": 4}, "text", ["123-45-6789", "6789", "", None], ["*******6789", "****", "", None]),
    ("show_last", {"chars": 2}, "integer", [123456], ["****56"]),
    ("partial", {"prefix": 2, "suffix": 2}, "text", ["+4930123456", "abcd", None], ["+4****56", "****", None]),
    ("partial", {"prefix": 1, "pad": "~", "suffix": 0}, "text", ["Alice"], ["A~"]),
    ("email", {}, "text", ["alice.smith@example.com", "odd@name@corp.example", "no-at-sign", None],
     ["*****@example.com", "*****@corp.example", "*****", None]),
    ("email", {"mask_domain": True}, "text", ["alice@example.com", None], ["*****@*****", None]),
    ("date_trunc", {"part": "year"}, "date", [datetime.date(1987, 6, 15), None], [datetime.date(1987, 1, 1), None]),
    ("date_trunc", {"part": "month"}, "date", [datetime.date(1987, 6, 15)], [datetime.date(1987, 6, 1)]),
    ("date_trunc", {"part": "month"}, "timestamp", [datetime.datetime(1987, 6, 15, 13, 14)], [datetime.datetime(1987, 6, 1)]),
    ("hash", {}, "text", ["alice@example.com", None], [hmac.new(KEY, b"alice@example.com", hashlib.sha256).hexdigest(), None]),
    ("hash", {"length": 12}, "text", ["Müller"], [hmac.new(KEY, "Müller".encode(), hashlib.sha256).hexdigest()[:12]]),
    ("pseudonym", {"prefix": "user_"}, "text", ["alice@example.com"], ["user_" + hmac.new(KEY, b"alice@example.com", hashlib.sha256).hexdigest()[:16]]),
    ("pseudonym", {}, "integer", [4711], [int(hmac.new(KEY, b"4711", hashlib.sha256).hexdigest()[:15], 16) % 2147483647]),
    ("pseudonym", {}, "bigint", [4711], [int(hmac.new(KEY, b"4711", hashlib.sha256).hexdigest()[:15], 16)]),
    ("custom", {"expression": "left(value, 1) || '.'"}, "text", ["Alice", None], ["A.", None]),
    ("custom", {"expression": "round(value, -3)"}, "numeric(12,2)", [Decimal("85432.10")], [Decimal("85000")]),
    ("deny", {}, "text", ["secret"], [None]),
]

DUCK_TYPES = {"numeric(12,2)": "DECIMAL(12,2)", "text": "VARCHAR", "integer": "INTEGER", "bigint": "BIGINT", "date": "DATE",
              "timestamp": "TIMESTAMP", "boolean": "BOOLEAN"}


def _query(strategy: str, args: dict, column_type: str, count: int, dialect: str) -> str:
    dtype = exp.DataType.build(column_type, dialect="postgres")
    masked = mask_expression(strategy, exp.column("v", table="t"), dtype, dialect, args, key=KEY)
    sql_type = column_type if dialect == "postgres" else DUCK_TYPES[column_type]
    placeholder = "%s" if dialect == "postgres" else "?"
    values = ", ".join(f"({index}, CAST({placeholder} AS {sql_type}))" for index in range(count))
    sql = masked.sql(dialect)
    if dialect == "postgres":
        sql = sql.replace("%", "%%")  # psycopg placeholders
    return f"SELECT {sql} FROM (VALUES {values}) AS t(n, v) ORDER BY t.n"


def _normalise(value):
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def _check(rows, expected):
    got = [_normalise(row[0]) for row in rows]
    assert got == [_normalise(value) for value in expected]


@pytest.mark.parametrize("strategy,args,column_type,values,expected", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_strategy_on_duckdb(strategy, args, column_type, values, expected):
    import duckdb

    with duckdb.connect() as connection:
        rows = connection.execute(_query(strategy, args, column_type, len(values), "duckdb"), values).fetchall()
    _check(rows, expected)


@pytest.mark.postgres
@pytest.mark.parametrize("strategy,args,column_type,values,expected", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_strategy_on_postgres(postgres, strategy, args, column_type, values, expected):
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        rows = connection.execute(_query(strategy, args, column_type, len(values), "postgres"), values).fetchall()
    _check(rows, expected)


def test_cases_cover_every_strategy():
    assert {case[0] for case in CASES} == set(STRATEGY_NAMES)


@pytest.mark.parametrize("dialect", ["snowflake", "bigquery", "postgres", "duckdb"])
@pytest.mark.parametrize("strategy,args,column_type,values,expected", CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_strategy_sql_parses_back(dialect, strategy, args, column_type, values, expected):
    dtype = exp.DataType.build(column_type, dialect="postgres")
    sql = mask_expression(strategy, exp.column("v"), dtype, dialect, args, key=KEY).sql(dialect)
    parsed = sqlglot.parse_one(f"SELECT {sql} AS m FROM t", read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(parsed, exp.Select) and parsed.selects[0].alias == "m"
    assert not list(parsed.find_all(exp.Command))
    if dialect == "postgres":
        assert "%" not in sql  # psycopg would read it as a parameter placeholder


def test_every_strategy_module_has_a_docstring_example():
    for strategy in STRATEGIES.values():
        module = __import__(strategy.function.__module__, fromlist=["_"])
        assert module.__doc__ and "->" in module.__doc__, strategy.name
        assert strategy.function.__name__.rstrip("_") == strategy.name == module.__name__.rsplit(".", 1)[-1]


def test_keyed_strategies_refuse_without_a_key():
    for name in ("hash", "pseudonym"):
        with pytest.raises(MaskError, match="needs a key"):
            mask_expression(name, exp.column("v"), None, "postgres", {}, key=None)


def test_type_sensitive_strategies_refuse_what_they_cannot_keep():
    text = exp.DataType.build("text")
    with pytest.raises(MaskError, match="date or timestamp"):
        mask_expression("date_trunc", exp.column("v"), text, "postgres", {"part": "year"})
    with pytest.raises(MaskError, match="needs the column's type"):
        mask_expression("type_default", exp.column("v"), None, "postgres", {})
    with pytest.raises(MaskError, match="not a number"):
        mask_expression("constant", exp.column("v"), exp.DataType.build("integer"), "postgres", {"value": "n/a"})


def test_key_loading(tmp_path):
    key_file = tmp_path / "masking.key"
    key_file.write_text("  a-key-of-enough-length-here \n")
    assert load_key(KeySource(file="masking.key"), tmp_path) == b"a-key-of-enough-length-here"
    assert load_key(KeySource(env="K"), environ={"K": "another-long-enough-key"}) == b"another-long-enough-key"
    with pytest.raises(KeyUnavailable, match="not set"):
        load_key(KeySource(env="MISSING"), environ={})
    with pytest.raises(KeyUnavailable, match="at least 16"):
        load_key(KeySource(env="K"), environ={"K": "short"})
    with pytest.raises(KeyUnavailable, match="cannot read"):
        load_key(KeySource(file="nope.key"), tmp_path)
    # per strategy and tag: a leaked derived key says nothing about other tags or the master key
    assert derive_key(KEY, "hash", "pii.email") != derive_key(KEY, "hash", "pii.ssn") != derive_key(KEY, "pseudonym", "pii.ssn")


@pytest.mark.parametrize(
    "text,message",
    [
        ("masking:\n  rules:\n    - {tags: [pii.x], strategy: hash}\n", "needs masking.hash_key"),
        ("masking:\n  rules:\n    - {tags: [pii.x], strategy: custom, args: {expression: \"md5(value)\"}}\n", "MD5"),
        ("masking:\n  rules:\n    - {tags: [pii.x], strategy: custom, args: {expression: \"lower(value) || ''\"}}\n", "unchanged"),
        ("masking:\n  rules:\n    - {tags: [pii.x], strategy: custom, args: {expression: \"left(other, 2)\"}}\n", "only refer to the column as 'value'"),
        ("masking:\n  rules:\n    - {tags: [pii.x], strategy: custom, args: {expression: \"(select 1)\"}}\n", "allow-list"),
        ("masking:\n  rules:\n    - {tags: [pii.x], strategy: hash, args: {length: 4}}\n  hash_key: {env: K}\n", "between 8 and 64"),
        ("masking:\n  default_strategy: show_last\n", "default_strategy takes no arguments"),
        ("guardrails:\n  - {rule: masking_refused, action: warn}\n", "cannot be lowered below block"),
    ],
)
def test_policy_rejects_unsafe_masking(text, message):
    with pytest.raises(PolicyError, match=message):
        load_policy_text(text, "policy.yaml")


def test_policy_accepts_every_strategy():
    rules = "\n".join(f"    - {{tags: [t.{name}], strategy: {name}, args: {json.dumps(args)}}}" for name, args, *_ in CASES)
    loaded = load_policy_text(f"masking:\n  hash_key: {{env: K}}\n  rules:\n{rules}\n")
    assert {rule.strategy for rule in loaded.policy.masking.rules} == set(STRATEGY_NAMES)
