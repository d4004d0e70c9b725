"""Red-team findings, relations: dbt swap names, the system catalogs and COPY from programs or
files (open attacks, one test each; they FAIL until fixed, then move to the permanent tests)."""

from __future__ import annotations

import shutil
import uuid

import pytest

from lineage.adapters.dbapi import govern
from lineage.identity.run_identity import RunIdentity

from redteam_support import ALICE, ALICE_SSN, BOTH, PIPELINE, POLICY_PATH, REFUSED, Session, leaked, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)


# 2. Renaming a protected table is refused (schema_change) unless one name is a dbt swap name:
#    x__dbt_backup / x__dbt_tmp are exempt and are not covered by the classification.
@BOTH
@pytest.mark.parametrize("swap_name", ["customers__dbt_backup", "leak__dbt_tmp"])
def test_renaming_a_protected_table_to_a_dbt_swap_name_does_not_unmask_it(sessions, kind, swap_name):
    session = sessions(kind)
    if isinstance(session.attempt(f"ALTER TABLE crm.customers RENAME TO {swap_name}"), REFUSED):
        return
    refused_or_clean(session.attempt(f"SELECT full_name, email, ssn, salary FROM crm.{swap_name}"), f"read of crm.{swap_name}")

# 4. COPY ... FROM PROGRAM / FROM a file is no finding for anyone: a shell command on the database
#    server runs an ungoverned query (PostgreSQL; needs superuser or pg_execute_server_program), and
#    on DuckDB (in the pipeline's own process) a file such as the masking key file is read.
@pytest.mark.postgres
def test_copy_from_program_does_not_run_an_ungoverned_query(sessions, pg_dsn, postgres):
    if shutil.which("psql") is None:
        pytest.skip("psql is needed to show what the program reads")
    session = sessions("postgres", dsn=pg_dsn)
    assert not isinstance(session.attempt("CREATE TABLE public.loot (line text)"), Exception)
    database = pg_dsn.rsplit("/", 1)[-1]
    program = f'psql -h 127.0.0.1 -p {postgres.port} -U postgres -d {database} -Atc "select ssn || email from crm.customers"'
    copied = session.attempt(f"COPY public.loot FROM PROGRAM '{program}'")
    if isinstance(copied, REFUSED):
        return
    refused_or_clean(session.attempt("SELECT line FROM public.loot"), "rows copied from a program")


def test_copy_from_a_file_does_not_read_the_masking_key_on_duckdb(sessions, tmp_path):
    key = "redteam-master-key-0123456789abcdef"
    key_file = tmp_path / "masking.key"
    key_file.write_text(key + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_PATH.read_text().replace("hash_key: {env: LINEAGE_TEST_MASKING_KEY}", f"hash_key: {{file: {key_file}}}"))
    session = sessions("duckdb", policy=policy)
    assert not isinstance(session.attempt("SELECT full_name FROM crm.customers"), Exception)  # hashed with the file's key
    session.attempt("CREATE TABLE loot (line VARCHAR)")
    copied = session.attempt(f"COPY loot FROM '{key_file}' (DELIMITER '|', HEADER false)")
    if isinstance(copied, REFUSED):
        return
    rows = session.attempt("SELECT line FROM loot")
    assert key not in repr(rows), "the masked identity read the master key of the keyed masks"



# 10. drop_table and rename exempt dbt's swap names: any table is renamed to one, then dropped.
@BOTH
def test_a_table_cannot_be_dropped_by_renaming_it_to_a_dbt_swap_name_first(sessions, kind):
    session = sessions(kind, PIPELINE)
    session.attempt("ALTER TABLE crm.orders RENAME TO orders__dbt_backup")
    session.attempt("DROP TABLE crm.orders__dbt_backup")
    tables = session.raw_rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm' ORDER BY 1")
    assert ("orders",) in tables, f"crm.orders is gone: {tables}"
