"""The allowlist's data, entry by entry, on the real databases; and how the analysis names calls.

Every function in ``lineage/decide/allowlist/builtins.yaml`` must be what its section says on
PostgreSQL 15 (pg_proc: IMMUTABLE, not SECURITY DEFINER, a plain/aggregate/window function) and
DuckDB (duckdb_functions: CONSISTENT, no side effects); keywords must be keywords the server
never resolves to a user's function; relations must exist in the catalog schemas.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
import yaml
from sqlglot import exp

from lineage.decide.allowlist import DATA, Call, builtins, function_known, refused_calls, refused_relation
from lineage.decide.analysis.calls import statement_calls
from lineage.decide.analysis.statements import split_statements

DATA_ = yaml.safe_load(DATA.read_text())
PG = DATA_["postgres"]
DUCK = DATA_["duckdb"]


@pytest.fixture(scope="module")
def pg(postgres):
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        yield connection


def _pg_overloads(pg, names):
    rows = pg.execute(
        "SELECT proname, provolatile, prokind, prosecdef FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace AND proname = ANY(%s)",
        (list(names),),
    ).fetchall()
    found: dict[str, list[tuple]] = {}
    for name, volatile, kind, definer in rows:
        found.setdefault(name, []).append((volatile, kind, definer))
    return found


@pytest.mark.postgres
def test_every_immutable_postgres_entry_is_immutable_on_postgres_15(pg):
    found = _pg_overloads(pg, PG["immutable"])
    assert set(found) == set(PG["immutable"]), sorted(set(PG["immutable"]) - set(found))
    for name, overloads in found.items():
        assert all(volatile == "i" and kind in "faw" and not definer for volatile, kind, definer in overloads), (name, overloads)


@pytest.mark.postgres
def test_every_reviewed_postgres_entry_exists_and_is_no_security_definer(pg):
    found = _pg_overloads(pg, PG["reviewed"])
    assert set(found) == set(PG["reviewed"]), sorted(set(PG["reviewed"]) - set(found))
    for name, overloads in found.items():
        assert all(kind in "faw" and not definer for _, kind, definer in overloads), (name, overloads)
        assert any(volatile != "i" for volatile, _, _ in overloads), f"{name} is IMMUTABLE: list it under immutable"
        assert PG["reviewed"][name], f"{name} needs the reason it is a value function"


@pytest.mark.postgres
def test_every_postgres_function_of_known_effect_exists_is_no_security_definer_and_no_value_function(pg):
    found = _pg_overloads(pg, PG["effects"])
    assert set(found) == set(PG["effects"]), sorted(set(PG["effects"]) - set(found))
    for name, overloads in found.items():
        assert all(kind == "f" and not definer for _, kind, definer in overloads), (name, overloads)
        assert PG["effects"][name], f"{name} needs the reason its effect is known"
    calls = [Call(name) for name in PG["effects"]]
    assert refused_calls(calls, "postgres") == calls  # no value functions: refused for masked identities
    assert refused_calls(calls, "postgres", values_only=False) == []  # known to everyone else


@pytest.mark.postgres
def test_postgres_keywords_can_never_name_a_users_function(pg):
    rows = dict(pg.execute("SELECT word, catcode FROM pg_get_keywords() WHERE word = ANY(%s)", (PG["keywords"],)).fetchall())
    # reserved (R) and column-name (C) keywords cannot be function names unless quoted; quoted calls are checked as names
    assert {word: rows.get(word) for word in PG["keywords"] if rows.get(word) not in ("R", "C")} == {}


@pytest.mark.postgres
def test_postgres_relations_exist_in_the_catalog_schemas(pg):
    for name in PG["relations"]:
        schema, _, relation = name.partition(".")
        assert schema in ("pg_catalog", "information_schema"), name
        if relation != "*":
            assert pg.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0], name


@pytest.mark.postgres
def test_the_functions_the_issue_names_are_not_allowed(pg):
    """The denylist it replaces, and more: none of these is on the list (all exist on PostgreSQL)."""
    names = ["query_to_xml", "table_to_xml", "schema_to_xml_and_xmlschema", "database_to_xml_and_xmlschema", "cursor_to_xml",
             "ts_rewrite", "ts_stat", "current_query", "pg_stat_get_activity", "pg_read_file", "lo_get", "lo_import",
             "set_config", "current_setting", "pg_sleep", "pg_get_viewdef", "pg_ls_dir", "txid_current", "pg_backend_pid"]
    assert set(_pg_overloads(pg, names)) == set(names)
    assert refused_calls([Call(name) for name in names], "postgres") == [Call(name) for name in names]


def _duck_functions():
    with duckdb.connect() as connection:
        rows = connection.execute(
            "SELECT function_name, function_type, stability, has_side_effects, internal, macro_definition FROM duckdb_functions()"
        ).fetchall()
    found: dict[str, list[tuple]] = {}
    for name, kind, stability, side_effects, internal, definition in rows:
        found.setdefault(name, []).append((kind, stability, side_effects, internal, definition))
    return found


def test_every_consistent_duckdb_entry_is_consistent_on_duckdb():
    found = _duck_functions()
    for name in DUCK["consistent"]:
        overloads = found.get(name)
        assert overloads, f"{name} is not a DuckDB function"
        assert all(kind in ("scalar", "aggregate", "window") and stability == "CONSISTENT" and not side and internal
                   for kind, stability, side, internal, _ in overloads), (name, overloads)


def test_every_reviewed_duckdb_entry_exists_without_side_effects_and_has_a_reason():
    found = _duck_functions()
    for name, reason in DUCK["reviewed"].items():
        overloads = found.get(name)
        assert overloads and reason, name
        assert all(internal and kind in ("scalar", "aggregate", "window", "macro") for kind, _, _, internal, _ in overloads), (name, overloads)
        assert any(stability != "CONSISTENT" for kind, stability, _, _, _ in overloads if kind != "macro"), f"{name} is CONSISTENT: list it there"


def test_every_duckdb_macro_calls_only_listed_functions():
    found = _duck_functions()
    for name in DUCK["macros"]:
        overloads = [entry for entry in found.get(name, []) if entry[0] == "macro"]
        assert overloads and all(internal for _, _, _, internal, _ in overloads), name
        for *_, definition in overloads:
            parsed = split_statements(f"SELECT {definition}", "duckdb")[0]
            assert parsed.expression is not None, (name, definition)
            calls = statement_calls(parsed.expression, parsed.sql, parsed.offset, "duckdb", parsed.keyword_calls)
            assert refused_calls(calls, "duckdb") == [], (name, definition)


def test_duckdb_table_functions_and_aliases():
    found = _duck_functions()
    for name in DUCK["table"] + DUCK["catalog"]:
        assert any(kind == "table" for kind, *_ in found.get(name, [])), name
    with duckdb.connect() as connection:
        connection.execute("CREATE TABLE secret_values (ssn VARCHAR CHECK (ssn <> '123-45-6789')); INSERT INTO secret_values VALUES ('987-65-4321')")
        described = repr([connection.execute(f"SELECT * FROM {name}()").fetchall() for name in DUCK["catalog"]])
        assert "987-65-4321" not in described  # the schema, never a stored value
    with duckdb.connect() as connection:
        for alias, target in DUCK["aliases"].items():
            assert target in DUCK["consistent"] and alias not in found
            sql = f"SELECT {alias}(0.5) WITHIN GROUP (ORDER BY x) FROM (VALUES (1), (2), (3)) t(x)"
            assert connection.execute(sql).fetchall() == connection.execute(f"SELECT {target}(x, 0.5) FROM (VALUES (1), (2), (3)) t(x)").fetchall()


def test_duckdb_keywords_are_keywords():
    with duckdb.connect() as connection:
        rows = connection.execute("SELECT keyword_name, keyword_category FROM duckdb_keywords()").fetchall()
    categories: dict[str, set[str]] = {}
    for word, category in rows:
        categories.setdefault(word, set()).add(category)
    assert {word: categories.get(word) for word in DUCK["keywords"] if not categories.get(word, set()) & {"reserved", "column_name"}} == {}


def test_syntax_entries_are_sqlglot_expressions():
    for name in DATA_["syntax"]:
        assert issubclass(getattr(exp, name), exp.Func), name


# -- how the analysis names a call -----------------------------------------------------------------

def calls(sql: str, dialect: str = "postgres") -> list[Call]:
    parsed = split_statements(sql, dialect)[0]
    return list(statement_calls(parsed.expression, parsed.sql, parsed.offset, dialect, parsed.keyword_calls))


def test_a_call_is_named_as_the_database_resolves_it():
    found = calls('SELECT lower(a), LCASE(b), pg_catalog.upper(c), crm.leak(d), "Lower"(e), "lower"(f), CAST(g AS int), h::text, '
                  "trim(i), extract(year FROM j) FROM t")
    assert Call("lower") in found and Call("lcase") in found and Call("pg_catalog.upper") in found and Call("crm.leak") in found
    assert Call("Lower", quoted=True) in found and Call("lower", quoted=True) in found
    assert Call("cast") in found and Call("Cast", syntax=True) in found and Call("trim") in found and Call("extract") in found
    # LCASE is sqlglot's LOWER, but PostgreSQL calls a function named lcase: a user's, if any
    assert set(refused_calls(found, "postgres")) == {Call("lcase"), Call("crm.leak"), Call("Lower", quoted=True)}
    # the second statement of a text is named by its own positions
    second = split_statements("SELECT 1; SELECT current_query()", "postgres")[1]
    assert statement_calls(second.expression, second.sql, second.offset, "postgres") == (Call("current_query"),)


def test_quoted_keywords_are_names_not_syntax():
    assert not function_known(Call("trim", quoted=True), "postgres") and function_known(Call("trim"), "postgres")
    assert function_known(Call("lower", quoted=True), "postgres")  # pg_catalog.lower, found first on the search path


def test_the_policy_adds_functions_and_relations():
    assert refused_calls([Call("crm.normalize_phone")], "postgres", ["crm.normalize_phone"]) == []
    assert refused_relation(("pg_catalog", "pg_stat_user_tables"), "postgres") == "pg_catalog.pg_stat_user_tables"
    assert refused_relation(("pg_catalog", "pg_stat_user_tables"), "postgres", ["pg_catalog.pg_stat_user_*"]) is None
    assert refused_relation(("pg_stat_activity",), "postgres") == "pg_catalog.pg_stat_activity"  # found on pg_catalog first
    assert refused_relation(("information_schema", "columns"), "postgres") is None
    assert refused_relation(("crm", "customers"), "postgres") is None


def test_dialects_without_a_list_know_no_function():
    assert not builtins("snowflake").known_dialect
    assert refused_calls([Call("lower")], "snowflake") == [Call("lower")]
