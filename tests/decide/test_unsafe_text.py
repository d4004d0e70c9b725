"""Text the database would read differently from the analysis is refused before analysis, on
every entry path: the engine (what every adapter asks), ``lineage check`` and ``lineage exec``,
``lineage.adapters.dbapi`` on PostgreSQL 15 and DuckDB, and the dbt pre-flight. A fuzz test feeds
control characters, undecodable bytes and Unicode separators into each: either the text is
refused as ``unsafe_text`` and nothing runs, or the database runs exactly what was analysed.
(The Airflow hook path: tests/airflow_plugin/test_airflow_unsafe.py.)
"""

from __future__ import annotations

import unicodedata

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage.decide.analysis import analyze
from lineage.decide.engine import Engine
from lineage.governor import StatementBlocked
from lineage.model import Action
from lineage.policy import load_policy

from masking_fixture import ALICE, OFFICER, POLICY_PATH, assert_no_raw
from masking_fixture import duck, key_env, pg  # noqa: F401  (fixtures)

REFUSED = {
    "nul": "select email, ssn from crm.customers\x00 where id = 1",
    "nul in a literal": "select id from crm.customers where city = 'a\x00b'",
    "vertical tab": "delete from crm.orders\x0b where id = 999",
    "form feed": "select\x0cssn from crm.customers",
    "escape": "select id from crm.customers\x1b",
    "C1 control": "select id from crm.customers\x85",
    "undecodable byte": "select id from crm.customers\udcff",
    "unicode-escaped name": 'select U&"\\0073sn" from crm.customers',
    "unicode-escaped lower case": 'select u&"\\0073sn" from crm.customers',
    "unicode-escaped string": "select id from crm.customers where ssn = U&'\\0031'",
    "no-break space outside quotes": "select id from crm.customers\u00a0c",
    "line separator": "select id\u2028from crm.customers",
    "zero-width space": "select id from crm.\u200bcustomers",
    "byte order mark": "\ufeffselect id from crm.customers",
    "capital non-ASCII letter unquoted": "select ÄMAIL from crm.customers",
    "Kelvin sign": "select \u212aey from crm.customers",
    "non-ASCII digit outside quotes": "select id from crm.customers limit \u0661",
    "name PostgreSQL would cut": "select id from crm.customers" + "x" * 60,
}

ACCEPTED = {
    "non-ASCII in a literal": "select id from crm.customers where city = 'Zürich\u00a0—\u200d'",
    "non-ASCII in a quoted name": 'select "Ärger" from crm.customers',
    "non-ASCII in comments": "select id -- Übersicht — ü\u2028\nfrom crm.customers /* \u00a0 /* nested \u200b */ */",
    "lower-case non-ASCII unquoted": "select id as ärger from crm.customers",
    "dollar quote": "select $tag$ \u00a0 $tag$",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_analysis_refuses_text_the_server_reads_differently(name):
    facts = analyze(REFUSED[name], "postgres")
    assert len(facts) == 1 and facts[0].unsafe_text, (name, facts[0].kind)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_the_analysis_accepts_what_both_read_alike(name):
    facts = analyze(ACCEPTED[name], "postgres")
    assert all(not each.unsafe_text and each.kind != "unparseable" for each in facts), (name, [f.parse_error for f in facts])


def test_no_policy_and_no_audit_mode_lets_unsafe_text_run(tmp_path, key_env):
    lowered = tmp_path / "lowered.yaml"
    lowered.write_text(POLICY_PATH.read_text().replace("mode: enforce", "mode: audit") + "guardrails:\n  - {rule: unparseable, action: allow}\n")
    engine = Engine(load_policy(lowered))
    for identity in (ALICE, OFFICER):
        decision = engine.check(REFUSED["nul"], identity)[0]
        assert decision.action == Action.BLOCK and decision.effective_action == Action.BLOCK, decision.to_dict()
        assert [f.rule for f in decision.findings if f.rule != "masking_refused"] == ["unsafe_text"]
        assert "NUL" in decision.findings[0].message and "offset 36" in decision.findings[0].message
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY_PATH.read_text() + "guardrails:\n  - {rule: unsafe_text, action: warn}\n")
    with pytest.raises(Exception, match="cannot be lowered below block"):
        load_policy(bad)


def test_lineage_check_refuses_undecodable_files_and_stdin_without_a_traceback(cli, tmp_path):
    path = tmp_path / "bad.sql"
    path.write_bytes(b"select ssn from crm.customers\xff\xfe where id = 1")
    result = cli("check", str(path), "--format", "json")
    assert result.code == 1 and "Traceback" not in result.err
    finding = result.json()["statements"][0]["findings"][0]
    assert finding["rule"] == "unsafe_text" and "0xFF" in finding["message"] and "offset 29" in finding["message"]
    result = cli("check", "--format", "json", stdin="delete from crm.orders\x00 where id = 1")
    assert result.code == 1 and result.json()["statements"][0]["findings"][0]["rule"] == "unsafe_text"
    bom = tmp_path / "bom.sql"
    bom.write_bytes("\ufeffselect 1".encode())
    assert cli("check", str(bom)).code == 0  # a file's byte order mark is no character of the SQL


@pytest.mark.postgres
def test_lineage_exec_never_sends_a_nul_to_postgres(cli, pg, postgres, tmp_path, key_env):
    """The issue's statement: libpq would cut at the NUL and run DELETE FROM crm.customers."""
    before = pg.execute("SELECT count(*) FROM crm.customers")
    path = tmp_path / "nul.sql"
    path.write_bytes(b"delete from crm.customers\x00 where id = 999")
    for identity in (["--principal", "alice@corp", "--group", "analysts"], ["--principal", "dana@corp", "--group", "privacy-officers"]):
        result = cli("exec", "--dsn", postgres.dsn_for("masking_raw"), "--policy", str(POLICY_PATH), "--ledger", f"sqlite:///{tmp_path / 'l.db'}", *identity, str(path))
        assert result.code == 1 and "unsafe_text" in result.err, result.err
    assert pg.execute("SELECT count(*) FROM crm.customers") == before
    # what the check stops is real: psycopg sends the text up to the NUL
    with psycopg.connect(postgres.dsn_for("masking_raw")) as connection:
        assert connection.execute("select count(*) from crm.customers\x00 where false").fetchone()[0] == before[0][0]


# -- the fuzz: control characters, undecodable bytes and separators into every path ------------------

BASES = [
    "SELECT id, email, ssn FROM crm.customers WHERE id = 1",
    "DELETE FROM crm.orders WHERE id = 999",
    "UPDATE crm.orders SET status = status WHERE id = -1",
    "SELECT city, count(*) FROM crm.customers GROUP BY city",
    "SELECT id FROM crm.customers WHERE city = 'Springfield'",
]
HARD = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\udc80", "\udcff", "\ud800"]
SOFT = ["\u00a0", "\u2028", "\u2029", "\u200b", "\u200d", "\ufeff", "\u3000", "\u2000", "\u202e", "\u0661", "\u00b2", "Ä", "\u212a", "é", "\ue000"]


@st.composite
def mangled(draw) -> tuple[str, str]:
    base = draw(st.sampled_from(BASES))
    text = base
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.sampled_from(HARD + SOFT)) + text[position:]
    return base, text


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(case=mangled())
def test_fuzz_the_engine(duck, case):
    """Every character class on the analysis: a hard character is always refused; otherwise the
    text is refused, or parsed without one outside quotes."""
    _, text = case
    for dialect in ("postgres", "duckdb"):
        facts = analyze(text, dialect)
        if any(char in text for char in HARD):
            assert len(facts) == 1 and facts[0].unsafe_text, repr(text)
        elif not any(f.unsafe_text for f in facts):
            # accepted: a soft character outside a string literal (the bases' only quotes) is a
            # letter both fold alike (PostgreSQL folds ASCII only), never a separator or a digit
            for position, char in enumerate(text):
                if char in SOFT and text.count("'", 0, position) % 2 == 0:
                    assert unicodedata.category(char)[0] in "LM" and char.lower() == char, repr(text)


def _outcome(governed, driver_error, query):
    """What a governed execute of ``query`` did: rows, the refusal, or the database's error."""
    try:
        cursor = governed.execute(query)
        return cursor.fetchall() if getattr(cursor, "description", None) else []
    except StatementBlocked as blocked:
        return blocked
    except driver_error as error:  # the database refused what was analysed (a soft character in a name)
        return error


def _holds(outcome, text: str) -> None:
    if any(char in text for char in HARD):
        assert isinstance(outcome, StatementBlocked) and "unsafe_text" in str(outcome), (repr(text), outcome)
    if not isinstance(outcome, StatementBlocked):
        assert_no_raw(outcome if isinstance(outcome, list) else str(outcome))


@pytest.fixture(scope="module")
def governed_pg(pg, postgres, key_env):
    from lineage.adapters.dbapi import govern

    connection = govern(psycopg.connect(postgres.dsn_for("masking_raw"), autocommit=True), policy=str(POLICY_PATH), identity=ALICE, ledger=False)
    yield connection
    connection.raw_connection.close()


@pytest.fixture(scope="module")
def governed_duck(key_env):
    import duckdb

    from lineage.adapters.dbapi import govern
    from masking_fixture import CUSTOMERS, PAYMENTS, load_tables

    raw = duckdb.connect()
    load_tables(lambda sql, rows: raw.executemany(sql, rows), raw.execute, CUSTOMERS, PAYMENTS)
    connection = govern(raw, policy=str(POLICY_PATH), identity=ALICE, ledger=False)
    yield connection, raw
    raw.close()


@pytest.mark.postgres
@FUZZ
@given(case=mangled())
def test_fuzz_lineage_dbapi_on_postgres(pg, governed_pg, case):
    _, text = case
    before = pg.execute("SELECT count(*) FROM crm.orders")
    outcome = _outcome(governed_pg, psycopg.Error, text)
    _holds(outcome, text)
    if isinstance(outcome, StatementBlocked) and not any("\ud800" <= char <= "\udbff" for char in text):
        # the same text as bytes: undecodable bytes on the wire are refused by offset too
        assert isinstance(_outcome(governed_pg, psycopg.Error, text.encode("utf-8", "surrogateescape")), StatementBlocked)
    assert pg.execute("SELECT count(*) FROM crm.orders") == before


@FUZZ
@given(case=mangled())
def test_fuzz_lineage_dbapi_on_duckdb(governed_duck, case):
    import duckdb

    governed, raw = governed_duck
    _, text = case
    before = raw.execute("SELECT count(*) FROM crm.orders").fetchall()
    _holds(_outcome(governed, duckdb.Error, text), text)
    assert raw.execute("SELECT count(*) FROM crm.orders").fetchall() == before


def test_fuzz_the_dbt_preflight():
    """A compiled model with a control character or an escaped name is refused before dbt runs."""
    from lineage.decide.catalog import Catalog
    from lineage.adapters.dbt.node import Node
    from lineage.adapters.dbt.preflight import Preflight
    from lineage.identity.run_identity import RunIdentity
    from lineage.policy import load_policy_text

    engine = Engine(load_policy_text("version: 1\n", "<test>"), Catalog(dialect="duckdb"), "duckdb", masker=None)
    for text in ("select id from raw.orders\x00 where false", "select id from raw.orders\x0b", 'select U&"\\0069d" from raw.orders',
                 "select id from raw.orders\udcff"):
        node = Node("model.shop.m", "model", sql=text, relation="db.marts.m", materialized="table")
        report = Preflight(engine, RunIdentity("svc:dbt"), {"model.shop.m": "db.marts.m"}, {}, ()).run([node])
        rules = [finding.rule for _, finding in report.findings]
        assert "unsafe_text" in rules and report.blocked, (repr(text), rules)
