"""Red-team sessions: a governed connection as one identity on a fresh synthetic warehouse
(tests/masking_fixture.py), PostgreSQL 15 or DuckDB. ``attempt`` returns rows, or the exception
raised; a refusal (``StatementBlocked`` / ``ApprovalRequired``) of any statement of an attack counts
as safe."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lineage.adapters.dbapi import govern
from lineage.governor import ApprovalRequired, StatementBlocked
from lineage.identity.run_identity import RunIdentity

from masking_fixture import ALICE, CUSTOMERS, PAYMENTS, POLICY_PATH, load_tables, leaked
from masking_fixture import key_env  # noqa: F401  (fixture)

PIPELINE = RunIdentity(principal="svc:etl", groups=("pipelines",))  # no exemption: reads PII masked, runs DDL/DML
REFUSED = (StatementBlocked, ApprovalRequired)
ALICE_SSN = CUSTOMERS[0][3]


# -- the warehouses ---------------------------------------------------------------------------------


@pytest.fixture
def pg_dsn(postgres, key_env):  # noqa: F811
    """A fresh PostgreSQL database holding the synthetic warehouse (attacks change it)."""
    import psycopg

    name = f"redteam_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = postgres.dsn_for(name)
    with psycopg.connect(dsn, autocommit=True) as connection:

        def many(sql: str, rows: list[tuple]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)

        load_tables(many, connection.execute, CUSTOMERS, PAYMENTS)
    yield dsn
    with psycopg.connect(postgres.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Session:
    """One governed connection as one identity; ``attempt`` returns rows, or the exception raised."""

    def __init__(self, kind: str, raw, identity: RunIdentity, policy: Path = POLICY_PATH):
        self.kind, self.raw = kind, raw
        self.governed = govern(raw, policy=str(policy), identity=identity, ledger=False)

    def attempt(self, sql: str):
        try:
            if self.kind == "postgres":
                cursor = self.governed.execute(sql)
                return cursor.fetchall() if cursor.description else []
            result = self.governed.execute(sql)
            return result.fetchall() if self.raw.description else []
        except Exception as error:  # a refusal, or the database's own error
            return error

    def raw_rows(self, sql: str) -> list[tuple]:
        """What is really in the database (the test's own look, not the attacker's)."""
        if self.kind == "postgres":
            with self.raw.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        return self.raw.execute(sql).fetchall()


@pytest.fixture
def sessions(request, key_env):  # noqa: F811
    """``open(kind, identity)``: a governed session on a fresh warehouse, PostgreSQL or DuckDB."""
    opened = []

    def open_(kind: str, identity: RunIdentity = ALICE, policy: Path = POLICY_PATH, dsn: str | None = None) -> Session:
        if kind == "postgres":
            import psycopg

            raw = psycopg.connect(dsn or request.getfixturevalue("pg_dsn"), autocommit=True)
        else:
            import duckdb

            raw = duckdb.connect()
            load_tables(lambda sql, rows: raw.executemany(sql, rows), raw.execute, CUSTOMERS, PAYMENTS)
        opened.append(raw)
        return Session(kind, raw, identity, policy)

    yield open_
    for raw in opened:
        raw.close()


def refused_or_clean(outcome, what: str) -> None:
    """Safe: the statement was refused, or what came back holds no raw classified value."""
    if isinstance(outcome, REFUSED):
        return
    found = leaked(outcome if not isinstance(outcome, Exception) else str(outcome))
    assert not found, f"{what}: raw classified values came back: {sorted(found)[:4]}"


BOTH = pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
