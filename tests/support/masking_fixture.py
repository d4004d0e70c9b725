"""A warehouse with synthetic PII on real PostgreSQL 15 and DuckDB, for the masking tests.

Every person here is made up (fixed seed). ``FORBIDDEN`` lists every raw classified value in
the forms a leak would take (the value, the hidden part of a partly shown value, MD5 of it);
``assert_no_raw`` scans result cells and error messages for them. Each database also has a
*masked twin*: the same schema holding what a masked identity may see, so a rewritten
statement on the real data must give exactly what the original statement gives on the twin.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action, Decision
from lineage.policy import load_policy

DATA = Path(__file__).resolve().parents[1] / "data"
KEY_ENV = "LINEAGE_TEST_MASKING_KEY"
KEY = "test-masking-key-0123456789abcdef"

ALICE = RunIdentity(principal="alice@corp", groups=("analysts",))  # masked
OFFICER = RunIdentity(principal="dana@corp", groups=("privacy-officers",))  # sees everything raw
EXPORTER = RunIdentity(principal="svc:gdpr-export")  # sees emails raw, the rest masked

FIRST = ["Alice", "Bruno", "Chiara", "Dmitri", "Esther", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Nakamura", "Quispe", "Rahman", "Szabo", "Tanaka", "Varga", "Whitfield"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Hillcrest"]

DDL = [
    "CREATE SCHEMA crm",
    "CREATE SCHEMA staging",
    "CREATE SCHEMA mart",
    'CREATE TABLE crm.customers (id INTEGER PRIMARY KEY, full_name TEXT, email TEXT, ssn TEXT, salary NUMERIC(12,2), '
    'birth_date DATE, city TEXT, "Phone" TEXT, segment TEXT)',
    "CREATE TABLE crm.orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount NUMERIC(10,2), status TEXT)",
    "CREATE TABLE crm.payments (id INTEGER PRIMARY KEY, customer_id INTEGER, card_number TEXT, amount NUMERIC(10,2))",
    "CREATE TABLE staging.contacts (id INTEGER, email TEXT)",
    "CREATE TABLE mart.contacts (id INTEGER, email TEXT)",
]


def _customers() -> list[tuple]:
    rng = random.Random(7)
    rows, used = [], set()
    for index in range(24):
        first, last = FIRST[index % len(FIRST)], LAST[(index * 7) % len(LAST)]
        while True:
            ssn = f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
            if ssn not in used:
                used.add(ssn)
                break
        salary = Decimal(rng.randint(4_000_000, 25_000_000)) / 100
        birth = datetime.date(rng.randint(1950, 2000), rng.randint(2, 12), rng.randint(2, 28))
        phone = f"+1-555-{rng.randint(1000, 9999)}"
        email = f"{first.lower()}.{last.lower()}{index}@{rng.choice(['example.com', 'mail.example.org'])}"
        segment = "b2b" if index % 3 == 0 else "retail"
        rows.append((index + 1, f"{first} {last}", email, ssn, salary, birth, CITIES[index % len(CITIES)], phone, segment))
    return rows


def _orders() -> list[tuple]:
    rng = random.Random(11)
    return [(index + 1, rng.randint(1, 24), Decimal(rng.randint(100, 99_999)) / 100, rng.choice(["open", "shipped", "returned"])) for index in range(60)]


def _payments() -> list[tuple]:
    rng = random.Random(13)
    return [(index + 1, rng.randint(1, 24), f"4111-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}", Decimal(rng.randint(100, 9_999)) / 100) for index in range(30)]


CUSTOMERS, ORDERS, PAYMENTS = _customers(), _orders(), _payments()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _forbidden() -> set[str]:
    tokens: set[str] = set()
    for _, name, email, ssn, salary, birth, _, phone, _ in CUSTOMERS:
        local = email.split("@")[0]
        tokens |= {name, email, local, ssn, ssn[:6], str(salary), birth.isoformat(), phone, phone[3:]}
        tokens |= {_md5(value) for value in (name, email, ssn, str(salary), birth.isoformat(), phone)}
    for _, _, card, _ in PAYMENTS:
        tokens |= {card, _md5(card)}
    return tokens


FORBIDDEN = _forbidden()


def leaked(values: Any) -> set[str]:
    """Raw classified values (or their hidden parts, or their MD5) found in ``values``."""
    found = set()
    for text in _texts(values):
        for token in FORBIDDEN:
            if token in text:
                found.add(token)
    return found


def _texts(values: Any):
    if isinstance(values, (list, tuple)):
        for value in values:
            yield from _texts(value)
    elif isinstance(values, dict):
        for value in values.values():
            yield from _texts(value)
    elif values is not None:
        yield values.isoformat() if isinstance(values, (datetime.date, datetime.datetime)) else str(values)


def assert_no_raw(values: Any, what: str = "", written: str = "") -> None:
    """No raw value in ``values``. An error message may quote the statement, so values the
    statement itself spells out (``written``: the caller's own guesses) do not count there;
    in result cells they do (returning a guessed value would confirm it)."""
    found = leaked(values)
    if isinstance(values, str) and written:
        found = {token for token in found if token not in written}
    assert not found, f"raw classified values leaked {what}: {sorted(found)[:5]}"


POLICY_PATH = DATA / "masking_policy.yaml"


@dataclass
class Warehouse:
    """One database with the fixture loaded: run SQL raw or through the engine as an identity."""

    dialect: str
    execute: Callable[[str], list[tuple]]
    twin_execute: Callable[[str], list[tuple]]
    catalog: Catalog
    policy_path: Path = POLICY_PATH
    engines: dict = field(default_factory=dict)

    def engine(self, policy_path: Path | None = None) -> Engine:
        path = policy_path or self.policy_path
        if path not in self.engines:
            self.engines[path] = Engine(load_policy(path), self.catalog, dialect=self.dialect)
        return self.engines[path]

    def decide(self, sql: str, identity: RunIdentity = ALICE, policy_path: Path | None = None) -> Decision:
        decisions = self.engine(policy_path).check(sql, identity)
        assert len(decisions) == 1
        return decisions[0]

    def run(self, sql: str, identity: RunIdentity = ALICE) -> tuple[Decision, list[tuple] | str]:
        """Decide, then run the decided SQL; the result rows, or the error message when it fails."""
        decision = self.decide(sql, identity)
        assert decision.may_run, [f.to_dict() for f in decision.findings]
        try:
            return decision, self.execute(decision.sql)
        except Exception as error:
            return decision, f"{type(error).__name__}: {error}"

    def twin(self, sql: str) -> list[tuple] | str:
        try:
            return self.twin_execute(sql)
        except Exception as error:
            return f"{type(error).__name__}: {error}"


def load_tables(execute_many: Callable[[str, list[tuple]], None], execute: Callable[[str], Any], customers: list[tuple], payments: list[tuple]) -> None:
    for statement in DDL:
        execute(statement)
    execute_many("INSERT INTO crm.customers VALUES (%s)" % ", ".join(["?"] * 9), customers)
    execute_many("INSERT INTO crm.orders VALUES (?, ?, ?, ?)", ORDERS)
    execute_many("INSERT INTO crm.payments VALUES (?, ?, ?, ?)", payments)


def _masked_customers(warehouse: Warehouse) -> list[tuple]:
    decision = warehouse.decide("SELECT * FROM crm.customers ORDER BY id")
    assert decision.action == Action.MASK, decision.to_dict()
    rows = warehouse.execute(decision.sql)
    assert_no_raw(rows, "in the masked twin")
    return rows


def _masked_payments() -> list[tuple]:
    # card_number is a deny column: the twin holds what a masked identity can read (nothing)
    return [(pid, customer, None, amount) for pid, customer, _, amount in PAYMENTS]


@pytest.fixture(scope="module")
def key_env():
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = KEY
    yield KEY
    if previous is None:
        os.environ.pop(KEY_ENV, None)
    else:
        os.environ[KEY_ENV] = previous


@pytest.fixture(scope="module")
def duck(key_env):
    import duckdb

    raw = duckdb.connect()
    twin = duckdb.connect()

    def many(connection):
        return lambda sql, rows: connection.executemany(sql, rows)

    load_tables(many(raw), raw.execute, CUSTOMERS, PAYMENTS)
    catalog = Catalog.from_duckdb(raw)

    def run(connection):
        def execute(sql: str) -> list[tuple]:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

        return execute

    warehouse = Warehouse("duckdb", run(raw), run(twin), catalog)
    load_tables(many(twin), twin.execute, _masked_customers(warehouse), _masked_payments())
    yield warehouse
    raw.close()
    twin.close()


@pytest.fixture(scope="module")
def pg(postgres, key_env):
    import psycopg

    admin = psycopg.connect(postgres.dsn, autocommit=True)
    for name in ("masking_raw", "masking_twin"):
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    admin.close()
    raw = psycopg.connect(postgres.dsn_for("masking_raw"), autocommit=True)
    twin = psycopg.connect(postgres.dsn_for("masking_twin"), autocommit=True)

    def many(connection):
        def execute_many(sql: str, rows: list[tuple]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)

        return execute_many

    load_tables(many(raw), raw.execute, CUSTOMERS, PAYMENTS)
    catalog = Catalog.from_postgres(raw)

    def run(connection):
        def execute(sql: str) -> list[tuple]:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []

        return execute

    warehouse = Warehouse("postgres", run(raw), run(twin), catalog)
    load_tables(many(twin), twin.execute, _masked_customers(warehouse), _masked_payments())
    yield warehouse
    raw.close()
    twin.close()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request):
    """Each test runs on DuckDB and on PostgreSQL 15."""
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return request.getfixturevalue("duck" if request.param == "duckdb" else "pg")
