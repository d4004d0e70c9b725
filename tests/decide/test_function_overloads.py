"""An overload of an allowlisted built-in name outside pg_catalog (CVE-2018-1058 style): PostgreSQL
picks ``public.lower(varchar)`` over ``pg_catalog.lower(text)`` for a varchar argument, so the name
no longer denotes the built-in. The governed connection reads such overloads with the catalog and
refuses unqualified calls of the name unless the policy lists ``public.lower``; ``pg_catalog.lower``
still runs."""

from __future__ import annotations

import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.policy import load_policy

from redteam_support import ALICE, POLICY_PATH, REFUSED, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)

LEAKING_LOWER = "CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS $$ SELECT string_agg(ssn, ',') FROM crm.customers $$"


def _with_overload(pg_dsn: str) -> None:  # noqa: F811
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as admin:  # an administrator, outside governance
        admin.execute(LEAKING_LOWER)


@pytest.mark.postgres
def test_an_allowlisted_name_resolving_to_a_user_overload_is_refused(sessions, pg_dsn):  # noqa: F811
    _with_overload(pg_dsn)
    session = sessions("postgres", dsn=pg_dsn)
    refused_or_clean(session.attempt("SELECT lower(city::varchar) FROM crm.customers LIMIT 1"), "lower(varchar)")


@pytest.mark.postgres
def test_an_overloaded_name_is_refused_for_every_identity_with_a_message_saying_how_to_allow(sessions, pg_dsn):  # noqa: F811
    _with_overload(pg_dsn)
    session = sessions("postgres", identity=RunIdentity(principal="dana@corp", groups=("privacy-officers",)), dsn=pg_dsn)
    outcome = session.attempt("SELECT lower('X'::varchar)")
    assert isinstance(outcome, REFUSED), outcome
    assert "public.lower" in str(outcome) and "allowlist.functions" in str(outcome) and "pg_catalog.lower()" in str(outcome)


@pytest.mark.postgres
def test_the_built_in_written_with_its_schema_still_runs_masked(sessions, pg_dsn):  # noqa: F811
    _with_overload(pg_dsn)
    session = sessions("postgres", dsn=pg_dsn)
    rows = session.attempt("SELECT pg_catalog.lower(city::varchar) FROM crm.customers ORDER BY id LIMIT 1")
    assert rows == [("springfield",)], rows


@pytest.mark.postgres
def test_a_database_without_overloads_reads_none(pg_dsn):  # noqa: F811
    assert Catalog.from_postgres(pg_dsn).function_overloads == {}
    _with_overload(pg_dsn)
    assert Catalog.from_postgres(pg_dsn).function_overloads == {"lower": ("public",)}


def test_the_policy_listing_the_overload_allows_it(tmp_path, key_env):  # noqa: F811
    catalog = Catalog(dialect="postgres", function_overloads={"lower": ("public",)})
    catalog.add_table("crm.customers", {"id": "INTEGER", "city": "TEXT", "email": "TEXT", "ssn": "TEXT"})
    sql = "SELECT lower(city) FROM crm.customers"
    refused = Engine(load_policy(POLICY_PATH), catalog).check(sql, ALICE)[0]
    assert not refused.may_run
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_PATH.read_text() + "allowlist:\n  functions: [public.lower]\n")
    allowed = Engine(load_policy(policy), catalog).check(sql, ALICE)[0]
    assert allowed.may_run, [f.message for f in allowed.findings]
