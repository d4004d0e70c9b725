"""Settings in every spelling (lineage.decide.analysis.session_settings), the allowlist, and DROP kinds."""

from __future__ import annotations

import pytest

from lineage.decide.analysis import analyze
from lineage.decide.analysis.session_settings import settings_of_options
from lineage.decide.analysis.settings_allowlist import HARMLESS, family, is_harmless, parse_bool, split_identifier_list
from lineage.model import SettingChange


def settings(sql: str, dialect: str = "postgres") -> list[tuple]:
    return [(s.name, s.values, s.how, s.known) for facts in analyze(sql, dialect) for s in facts.settings]


@pytest.mark.parametrize(
    "sql,expected",
    [
        ("SET row_security = of", [("row_security", ("of",), "SET", True)]),
        ("set local row_security to 'F'", [("row_security", ("F",), "SET LOCAL", True)]),
        ("SET SESSION row_security = \"no\"", [("row_security", ("no",), "SET SESSION", True)]),
        ("SET row_security = $$0$$", [("row_security", ("0",), "SET", True)]),
        ("SET row_security = E'of\\x66'", [("row_security", None, "SET", False)]),  # escapes are not read: unknown value
        ("SET row_security = (1)", [("row_security", None, "SET", False)]),
        ("SET Row_Security TO DEFAULT", [("row_security", None, "SET", True)]),
        ("RESET row_security", [("row_security", None, "RESET", True)]),
        ("RESET ALL", [("all", None, "RESET", True)]),
        ("SET ROLE admin", [("role", ("admin",), "SET", True)]),
        ("RESET ROLE", [("role", None, "RESET", True)]),
        ("SET SESSION AUTHORIZATION DEFAULT", [("session_authorization", None, "SET", True)]),
        ("SET search_path = crm, \"Public\"", [("search_path", ("crm", "Public"), "SET", True)]),
        ("SET SCHEMA 'crm'", [("search_path", ("crm",), "SET", True)]),
        ("SET NAMES 'LATIN1'", [("client_encoding", ("LATIN1",), "SET", True)]),
        ("SET TIME ZONE 'UTC'", [("timezone", ("UTC",), "SET", True)]),
        ("SET log_min_duration_statement = -1", [("log_min_duration_statement", ("-1",), "SET", True)]),
        ("SET myext.level = 3", [("myext.level", ("3",), "SET", True)]),
        ("SELECT set_config('role', 'admin', false)", [("role", ("admin",), "set_config", True)]),
        ("SELECT pg_catalog.set_config('Row_Security'::text, 'off', true)", [("row_security", ("off",), "set_config", True)]),
        ("SELECT set_config(concat('ro', 'le'), 'admin', false)", [("*", None, "set_config", False)]),
        ("SELECT id FROM crm.orders WHERE set_config('row_security', 'off', false) IS NOT NULL", [("row_security", ("off",), "set_config", True)]),
        ("CREATE VIEW v AS SELECT set_config('role', 'admin', false)", [("role", ("admin",), "set_config", True)]),
        ("UPDATE pg_catalog.pg_settings SET setting = 'off' WHERE name = 'row_security'", [("row_security", ("off",), "UPDATE pg_settings", True)]),
        ("UPDATE pg_settings SET setting = 'off' WHERE name IN ('row_security', 'jit')",
         [("row_security", ("off",), "UPDATE pg_settings", True), ("jit", ("off",), "UPDATE pg_settings", True)]),
        ("UPDATE pg_settings SET setting = 'off' WHERE name LIKE 'row%'", [("*", None, "UPDATE pg_settings", False)]),
        ("ALTER ROLE bob SET row_security = off", [("row_security", ("off",), "ALTER ROLE", True)]),
        ("ALTER ROLE bob IN DATABASE d RESET ALL", [("all", None, "ALTER ROLE", True)]),
        ("ALTER DATABASE d SET standard_conforming_strings TO off", [("standard_conforming_strings", ("off",), "ALTER DATABASE", True)]),
        ("ALTER SYSTEM SET log_statement = none", [("log_statement", ("none",), "ALTER SYSTEM", True)]),
        ("SHOW search_path", []),
        ("CREATE VIEW crm.s AS SELECT name, setting FROM pg_catalog.pg_settings", [("*", None, "a view over pg_settings (updating it changes settings)", False)]),
        ("CREATE VIEW crm.s AS SELECT name, setting FROM pg_settings_copy", []),
    ],
)
def test_every_spelling_of_a_setting_is_read(sql, expected):
    assert settings(sql) == expected


@pytest.mark.parametrize(
    "sql,expected,harmless",
    [
        ("PRAGMA threads = 4", [("threads", ("4",), "PRAGMA", True)], True),
        ("PRAGMA enable_external_access = false", [("enable_external_access", ("false",), "PRAGMA", True)], False),
        ("PRAGMA enable_profiling", [("enable_profiling", (), "PRAGMA", True)], False),
        ("PRAGMA table_info('crm.orders')", [("table_info", (), "PRAGMA", True)], True),
        ("SET GLOBAL threads = 4", [("threads", ("4",), "SET GLOBAL", True)], True),
    ],
)
def test_duckdb_pragmas_are_settings_too(sql, expected, harmless):
    assert settings(sql, "duckdb") == expected
    facts = analyze(sql, "duckdb")[0]
    assert all(is_harmless("duckdb", s) for s in facts.settings) is harmless


def test_connection_options_are_read_as_the_server_splits_them():
    found = settings_of_options("-c standard_conforming_strings=off --row-security=of -capplication_name=x\\ y -B 100")
    assert [(s.name, s.values, s.known) for s in found] == [
        ("standard_conforming_strings", ("off",), True), ("row_security", ("of",), True),
        ("application_name", ("x y",), True), ("*", None, False), ("*", None, False),
    ]


@pytest.mark.parametrize(
    "text,value",
    [("on", True), ("ON", True), ("of", False), ("OFF", False), ("o", None), ("t", True), ("tRu", True), ("truex", None),
     ("f", False), ("fals", False), ("y", True), ("ye", True), ("n", False), ("no", False), ("1", True), ("0", False),
     ("01", None), ("", None), (" off", None), ("off ", None), ("+1", None)],
)
def test_parse_bool_is_postgresqls(text, value):
    assert parse_bool(text) is value


def test_split_identifier_list_is_postgresqls():
    assert split_identifier_list('crm, "Public" ,PG_Catalog') == ["crm", "Public", "pg_catalog"]
    assert split_identifier_list('"a,b", c') == ["a,b", "c"]


def change(name: str, *values: str, known: bool = True) -> SettingChange:
    return SettingChange(name, tuple(values) if values else None, "SET", known)


@pytest.mark.parametrize(
    "setting,family_,harmless",
    [
        (change("work_mem", "64MB"), "other", True),
        (change("jit_provider", "x"), "other", False),
        (change("row_security", "on"), "safety", True),
        (change("row_security", "t"), "safety", True),
        (change("row_security", "of"), "safety", False),
        (change("row_security", "on", "off"), "safety", False),
        (change("row_security", known=False), "safety", False),
        (change("row_security"), "safety", True),  # back to its default
        (change("session_replication_role", "ORIGIN"), "safety", True),
        (change("session_replication_role", "replica"), "safety", False),
        (change("log_statement", "all"), "safety", False),
        (change("pgaudit.log", "none"), "safety", False),
        (change("application_name", "x"), "safety", False),
        (change("role", "admin"), "role", False),
        (change("standard_conforming_strings", "on"), "lexing", True),
        (change("standard_conforming_strings", "of"), "lexing", False),
        (change("client_encoding", "utf-8"), "lexing", True),
        (change("client_encoding", "SJIS"), "lexing", False),
        (change("backslash_quote", "safe_encoding"), "lexing", False),
        (change("*", known=False), "lexing", False),
        (change("search_path", "crm", "public"), "other", True),
        (change("search_path", "pg_catalog", "crm"), "other", True),
        (change("search_path", "crm", "pg_catalog"), "other", False),
        (SettingChange("search_path", ("crm, PG_CATALOG",), "set_config"), "other", False),
    ],
)
def test_the_allowlist_judges_name_and_value(setting, family_, harmless):
    assert family("postgres", setting.name) == family_
    assert is_harmless("postgres", setting) is harmless


def test_a_dialect_without_a_list_allows_no_setting():
    assert not is_harmless("snowflake", change("work_mem", "64MB"))
    assert is_harmless("duckdb", change("threads", "4"))
    assert not is_harmless("duckdb", change("enable_external_access", "true"))
    assert "search_path" in HARMLESS["postgres"] and "application_name" not in HARMLESS["postgres"]


@pytest.mark.parametrize(
    "sql,kind,change_kind,cascade",
    [
        ("DROP TYPE crm.money_t CASCADE", "drop_type", "dropped_object", True),
        ("DROP DOMAIN crm.d", "drop_domain", "dropped_object", False),
        ("DROP FUNCTION crm.twice(numeric) CASCADE", "drop_function", "dropped_object", True),
        ("DROP SEQUENCE IF EXISTS crm.s CASCADE", "drop_sequence", "dropped_object", True),
        ("DROP INDEX CONCURRENTLY IF EXISTS crm.i", "drop_index", "dropped_object", False),
        ("DROP EXTENSION pgcrypto CASCADE", "drop_extension", "dropped_object", True),
        ("DROP TEXT SEARCH CONFIGURATION crm.cfg", "drop_text_search_configuration", "dropped_object", False),
        ("DROP MATERIALIZED VIEW crm.mv", "drop_materialized_view", "dropped_table", False),
        ("DROP FOREIGN TABLE crm.f CASCADE", "drop_foreign_table", "dropped_table", True),
        ("DROP OWNED BY bob", "drop_owned", "dropped_table", False),
        ("DROP TRIGGER audit ON crm.orders", "drop_trigger", "dropped_object", False),
        ("ALTER TABLE crm.orders DROP COLUMN status CASCADE", "alter_table", "dropped_column", True),
    ],
)
def test_every_drop_kind_is_a_fact(sql, kind, change_kind, cascade):
    facts = analyze(sql, "postgres")[0]
    assert facts.kind == kind
    assert [(c.change, c.cascade) for c in facts.schema_changes] == [(change_kind, cascade)]
    assert not facts.opaque


def test_an_unknown_drop_kind_is_refused():
    facts = analyze("DROP FROBNICATOR crm.x CASCADE", "postgres")[0]
    assert [part.reason for part in facts.opaque] == ["unsupported_statement"]
    assert "FROBNICATOR" in facts.opaque[0].detail


def test_duckdb_settings_by_pragma_or_set_are_refused_and_unchanged(tmp_path):
    import duckdb

    from lineage.adapters.dbapi import govern
    from lineage.governor import StatementBlocked
    from lineage.identity.run_identity import RunIdentity

    raw = duckdb.connect(str(tmp_path / "w.duckdb"))
    connection = govern(raw, identity=RunIdentity(principal="mallory"), ledger=False)
    before = raw.execute("select current_setting('default_collation')").fetchone()
    for sql in ("PRAGMA default_collation = 'nocase'", "SET default_collation = 'nocase'", "SET GLOBAL default_collation TO 'nocase'"):
        with pytest.raises(StatementBlocked, match="session_setting"):
            connection.execute(sql)
    assert raw.execute("select current_setting('default_collation')").fetchone() == before
    connection.execute("PRAGMA threads = 2")  # on the list
    assert raw.execute("select current_setting('threads')").fetchone() == (2,)
