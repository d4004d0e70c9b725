"""Guardrail evasions (issue 13, items 9-12) sent through the governed paths against PostgreSQL 15.

Each statement goes through ``lineage exec`` or ``lineage.adapters.dbapi`` as an attacker would send it;
each test asserts that the statement is refused AND that the table, the object or the session
setting is unchanged in the real database.
"""

from __future__ import annotations

import psycopg
import pytest

from lineage.adapters.dbapi import govern
from lineage.governor import ApprovalRequired, StatementBlocked
from lineage.identity.run_identity import RunIdentity

pytestmark = pytest.mark.postgres

DATABASE = "guardrail_evasions"
MALLORY = RunIdentity(principal="mallory", environment="prod")

SETUP = """
create schema crm; create schema raw;
create table raw.victim (id int primary key, v text);
create table crm.orders (id int primary key, customer_id int, amount numeric(12,2), status text);
create index orders_status on crm.orders (status);
create table crm.customers (id int primary key, name text, city text);
create table crm.audit (id int, what text);
create function crm.audit_row() returns trigger language plpgsql as $$ begin insert into crm.audit values (old.id, tg_op); return old; end $$;
create trigger orders_audit before delete on crm.orders for each row execute function crm.audit_row();
create type crm.money_t as (amount numeric);
create table crm.wallets (id int, balance crm.money_t);
create function crm.twice(numeric) returns numeric language sql immutable as 'select $1 * 2';
create table crm.calc (id int, x numeric default crm.twice(2));
create sequence crm.seq;
create table crm.numbered (id int default nextval('crm.seq'), v int);
create role other_role;
create function raw.flip() returns text language sql security definer as $$ select set_config('standard_conforming_strings', 'off', false) $$;
"""

ORDERS = "insert into crm.orders select g, g, g * 10, 'new' from generate_series(1, 5) g"


@pytest.fixture(scope="module")
def database(postgres):
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute("DROP ROLE IF EXISTS other_role")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    dsn = postgres.dsn_for(DATABASE)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute(SETUP)
    yield dsn
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute("DROP ROLE IF EXISTS other_role")


@pytest.fixture
def dsn(database):
    """Fresh rows before every test, so a statement that slipped through cannot hide the next one's."""
    with psycopg.connect(database, autocommit=True) as setup:
        setup.execute("truncate raw.victim, crm.orders, crm.customers, crm.audit, crm.wallets, crm.calc, crm.numbered")
        setup.execute("insert into raw.victim select g, 'v' || g from generate_series(1, 5) g")
        setup.execute(ORDERS)
        setup.execute("insert into crm.customers select g, 'n' || g, 'Oslo' from generate_series(1, 3) g")
        setup.execute("insert into crm.wallets values (1, row(5)); insert into crm.calc values (1, 3); insert into crm.numbered (v) values (1)")
    return database


def state(dsn: str) -> dict:
    """What the evasions try to change, read on a separate connection."""
    with psycopg.connect(dsn, autocommit=True) as observer:
        return {
            "orders": observer.execute("select count(*), string_agg(status, ',' order by id) from crm.orders").fetchone(),
            "victim": observer.execute("select count(*) from raw.victim").fetchone()[0],
            "columns": observer.execute(
                "select string_agg(attrelid::regclass || '.' || attname, ',' order by attrelid::regclass::text, attname) from pg_attribute "
                "where attrelid in ('crm.wallets'::regclass, 'crm.calc'::regclass, 'crm.numbered'::regclass) and attnum > 0 and not attisdropped"
            ).fetchone()[0],
            "defaults": observer.execute("select count(*) from pg_attrdef where adrelid in ('crm.calc'::regclass, 'crm.numbered'::regclass)").fetchone()[0],
            "objects": observer.execute(
                "select (select count(*) from pg_type where typname = 'money_t'), (select count(*) from pg_proc where proname = 'twice'), "
                "(select count(*) from pg_class where relname in ('seq', 'orders_status')), (select count(*) from pg_trigger where tgname = 'orders_audit')"
            ).fetchone(),
        }


def run_exec(cli, dsn: str, sql: str, tmp_path):
    return cli("exec", "--dsn", dsn, "--ledger", str(tmp_path / "ledger.db"), "--principal", "mallory", "--env", "prod", "--sql", sql)


# -- 9: a WHERE that filters nothing ------------------------------------------------------------

FILTERS_NOTHING = [
    # the issue's statements
    "delete from crm.orders where id::text = id::text",
    "delete from crm.orders where id = id + 0",
    "delete from crm.orders where id is not null",
    "delete from crm.orders where id in (select id from crm.orders)",
    "delete from crm.orders where coalesce(id, 0) = coalesce(id, 0)",
    "delete from crm.orders where (id, id) = (id, id)",
    "delete from crm.orders where id * 0 = 0",
    "delete from crm.orders o where exists (select 1 from crm.orders o2 where o2.id = o.id)",
    "delete from crm.orders where id = any(array(select id from crm.orders))",
    "delete from crm.orders where (id = id) is not false",
    "delete from crm.orders where id is not distinct from id",
    "update crm.orders set status = 'gone' where upper(id::text) = upper(id::text)",
    "merge into crm.orders t using crm.customers s on true when matched then delete",
    "merge into crm.orders t using crm.customers s on true when matched then update set status = 'gone'",
    # other members of the class
    "delete from crm.orders where id < 3 or id >= 3",
    "delete from crm.orders where status = 'new' or status <> 'new'",
    "delete from crm.orders where status like '%'",
    "delete from crm.orders where id not between 10 and 1",
    "delete from crm.orders where id >= -2147483648",
    "delete from crm.orders where not (id = null)",
    "delete from crm.orders where id <> all('{}')",
    "delete from crm.orders where id = any(array[id])",
    "delete from crm.orders where id in (select id from crm.orders limit all)",
    "delete from crm.orders where id in (select crm.orders.id from crm.customers)",
    "delete from crm.orders o where exists (select count(*) from crm.customers c where c.id = o.customer_id)",
    "delete from crm.orders a using crm.orders b where a.id = b.id",
    "update crm.orders set status = 'gone' from (select * from crm.orders) s where orders.id = s.id",
    "with d as (select id from crm.orders) delete from crm.orders where id in (select id from d)",
    "merge into crm.orders t using crm.orders s on t.id = s.id when matched then delete",
    "with gone as (delete from crm.orders where id is not null returning id) select count(*) from gone",
]


@pytest.mark.parametrize("sql", FILTERS_NOTHING)
def test_a_where_that_filters_nothing_is_refused_and_no_row_changes(cli, dsn, tmp_path, sql):
    before = state(dsn)
    result = run_exec(cli, dsn, sql, tmp_path)
    assert result.code == 1, (result.out, result.err)
    assert "without_where" in result.err, result.err
    assert state(dsn) == before


def test_a_real_filter_still_runs(cli, dsn, tmp_path):
    result = run_exec(cli, dsn, "delete from crm.orders o where not exists (select 1 from crm.customers c where c.id = o.customer_id)", tmp_path)
    assert result.code == 0, result.err
    result = run_exec(cli, dsn, "update crm.orders set status = 'paid' where id in (select id from crm.orders where amount > 15)", tmp_path)
    assert result.code == 0, result.err
    assert state(dsn)["orders"] == (3, "new,paid,paid")


# -- 10: drops through dependencies -------------------------------------------------------------


@pytest.mark.parametrize(
    "sql,rule,code",
    [
        ("drop type crm.money_t cascade", "drop_cascade", 1),
        ("drop function crm.twice(numeric) cascade", "drop_cascade", 1),
        ("drop sequence crm.seq cascade", "drop_cascade", 1),
        ("drop index crm.orders_status", "drop_object", 3),
        ("drop trigger orders_audit on crm.orders", "disable_safety", 1),
    ],
)
def test_drops_through_dependencies_are_refused_and_nothing_is_dropped(cli, dsn, tmp_path, sql, rule, code):
    before = state(dsn)
    result = run_exec(cli, dsn, sql, tmp_path)
    assert result.code == code, (result.out, result.err)
    assert rule in result.err
    assert state(dsn) == before


# -- 11: settings and roles by other spellings --------------------------------------------------


def session_state(connection) -> tuple:
    return connection.execute(
        "select current_user, session_user, current_setting('row_security'), current_setting('session_replication_role'), "
        "current_setting('log_statement'), current_setting('log_min_duration_statement'), current_setting('application_name'), "
        "current_setting('standard_conforming_strings')"
    ).fetchone()


@pytest.fixture
def governed(dsn):
    raw = psycopg.connect(dsn, autocommit=True)
    connection = govern(raw, identity=MALLORY, ledger=False)
    yield connection
    raw.close()


@pytest.mark.parametrize(
    "sql,refusal",
    [
        ("select set_config('role', 'other_role', false)", ApprovalRequired),
        ("select set_config('session_authorization', 'other_role', false)", ApprovalRequired),
        ("select set_config('session_replication_role', 'replica', false)", StatementBlocked),
        ("update pg_catalog.pg_settings set setting = 'replica' where name = 'session_replication_role'", StatementBlocked),
        ("update pg_settings set setting = 'off' where name = 'row_security'", StatementBlocked),
        ("select set_config('row_security', 'off', false)", StatementBlocked),
        ("select pg_catalog.set_config('row_security', 'of', true)", StatementBlocked),
        ("set row_security = false", StatementBlocked),
        ("set row_security = of", StatementBlocked),
        ("set row_security = no", StatementBlocked),
        ("set session row_security to 'f'", StatementBlocked),
        ("set row_security = \"n\"", StatementBlocked),
        ("set row_security = $$fa$$", StatementBlocked),
        ("set log_statement = 'none'", StatementBlocked),
        ("set log_min_duration_statement = -1", StatementBlocked),
        ("set application_name = 'lg:someone-else:bob'", StatementBlocked),
        ("reset all", StatementBlocked),
        ("select set_config(lower('ROLE'), 'other_role', false)", StatementBlocked),
    ],
)
def test_settings_and_roles_by_other_spellings_are_refused_and_the_session_is_unchanged(governed, sql, refusal):
    raw = governed.raw_connection
    before = session_state(raw)
    with pytest.raises(refusal):
        governed.execute(sql)
    assert session_state(raw) == before


def test_a_view_over_pg_settings_cannot_be_made_into_a_settings_proxy(governed, dsn):
    # an updatable view over pg_settings runs set_config when it is updated
    with pytest.raises(StatementBlocked, match="lexing_setting"):
        governed.execute("create view crm.settings_proxy as select * from pg_settings")
    with psycopg.connect(dsn, autocommit=True) as observer:
        assert observer.execute("select to_regclass('crm.settings_proxy')").fetchone() == (None,)


def test_log_destination_is_a_safety_setting(governed):
    with pytest.raises(StatementBlocked, match="disable_safety"):
        governed.execute("set log_destination = 'stderr'")


def test_search_path_lists_and_show_are_understood(governed):
    governed.execute("SET search_path = crm, public")
    assert governed.execute("SHOW search_path").fetchone() == ("crm, public",)
    assert governed.execute("select count(*) from orders").fetchone() == (5,)
    with pytest.raises(StatementBlocked, match="session_setting"):
        governed.execute("SET search_path = crm, pg_catalog")  # built-in functions would no longer come first
    assert governed.execute("SHOW search_path").fetchone() == ("crm, public",)


# -- 12: lexing that depends on session settings ------------------------------------------------

SPLIT = "select 'a\\'' ; delete from raw.victim; --'"


def test_the_issue_exploit_through_lineage_exec_deletes_nothing(cli, dsn, tmp_path):
    result = run_exec(cli, dsn, f"SET standard_conforming_strings = off; {SPLIT}", tmp_path)
    assert result.code == 1
    assert "lexing_setting" in result.err
    assert state(dsn)["victim"] == 5


@pytest.mark.parametrize(
    "setup",
    [
        "select set_config('standard_conforming_strings', 'off', false)",
        "set session standard_conforming_strings to of",
        "update pg_settings set setting = 'off' where name = 'standard_conforming_strings'",
        "set backslash_quote = on",
        "set escape_string_warning = off",
        "set client_encoding = 'SJIS'",
    ],
)
def test_lexing_settings_are_refused_in_every_spelling(governed, dsn, setup):
    with pytest.raises(StatementBlocked, match="lexing_setting"):
        governed.execute(setup)
    raw = governed.raw_connection
    assert raw.execute("select current_setting('standard_conforming_strings'), current_setting('client_encoding')").fetchone() == ("on", "UTF8")


def test_a_session_whose_server_reads_backslashes_as_escapes_runs_nothing(dsn):
    # set_config inside a function the analysis cannot see into, which the policy lists as a value
    # function by mistake: the server reports the change, and the session runs nothing more
    from lineage.policy import load_policy_text

    raw = psycopg.connect(dsn, autocommit=True)
    try:
        governed = govern(raw, policy=load_policy_text("allowlist: {functions: [raw.flip]}\n"), identity=MALLORY, ledger=False)
        governed.execute("select raw.flip()")
        with pytest.raises(StatementBlocked, match="standard_conforming_strings = off"):
            governed.execute(SPLIT)
    finally:
        raw.close()
    assert state(dsn)["victim"] == 5


def test_connection_options_are_judged_like_set(postgres, dsn):
    for options, rule in [("-c standard_conforming_strings=off", "lexing_setting"), ("-c row_security=off", "disable_safety")]:
        raw = psycopg.connect(dsn, autocommit=True, options=options)
        try:
            connection = govern(raw, identity=MALLORY, ledger=False)
            with pytest.raises(StatementBlocked, match=rule):
                connection.execute("select 'a\\'' ; delete from raw.victim; --'" if "standard" in options else "select count(*) from crm.orders")
        finally:
            raw.close()
    assert state(dsn)["victim"] == 5


def test_alter_role_or_database_set_is_refused(governed, dsn):
    with pytest.raises(StatementBlocked, match="lexing_setting"):
        governed.execute(f"alter database {DATABASE} set standard_conforming_strings = off")
    with pytest.raises(StatementBlocked, match="disable_safety"):
        governed.execute("alter role other_role set row_security = off")
    with psycopg.connect(dsn, autocommit=True) as fresh:
        assert fresh.execute("select current_setting('standard_conforming_strings')").fetchone() == ("on",)
        stored = fresh.execute(
            "select count(*) from pg_db_role_setting where setdatabase = (select oid from pg_database where datname = %s) "
            "or setrole = 'other_role'::regrole", (DATABASE,)).fetchone()
        assert stored == (0,)


def test_every_boolean_spelling_postgresql_reads_as_off_is_refused(dsn):
    """Ask the server itself which spellings it accepts, and compare with the analysis's verdict."""
    from lineage.decide.engine import Engine

    words = ["true", "false", "yes", "no", "on", "off", "1", "0"]
    candidates = {prefix for word in words for prefix in (word[:n] for n in range(1, len(word) + 1))}
    candidates |= {c.upper() for c in candidates} | {c.title() for c in candidates} | {" off", "off ", "+0", "00", "o", ""}
    engine = Engine(None, dialect="postgres")
    checked = 0
    with psycopg.connect(dsn, autocommit=True) as raw:
        for spelling in sorted(candidates):
            for template in ("SET row_security = '{}'", "SELECT set_config('row_security', '{}', false)"):
                sql = template.format(spelling)
                try:
                    raw.execute(sql)
                except psycopg.Error:
                    continue  # the server refuses the spelling: nothing to judge
                value = raw.execute("select current_setting('row_security')").fetchone()[0]
                raw.execute("RESET row_security")
                decision = engine.check(sql, MALLORY)[0]
                assert decision.may_run == (value == "on"), (sql, value, decision.to_dict())
                checked += 1
    assert checked > 40


def test_in_audit_mode_too_a_session_read_differently_runs_nothing(dsn):
    """Audit mode runs what it would block, but a record that does not say what ran is no audit."""
    from lineage.policy import load_policy_text

    raw = psycopg.connect(dsn, autocommit=True)
    try:
        connection = govern(raw, policy=load_policy_text("mode: audit\nallowlist: {functions: [raw.flip]}\n"), identity=MALLORY, ledger=False)
        connection.execute("select raw.flip()")
        with pytest.raises(StatementBlocked, match="standard_conforming_strings = off"):
            connection.execute(SPLIT)
    finally:
        raw.close()
    assert state(dsn)["victim"] == 5
