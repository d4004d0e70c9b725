"""The engine's masking step (``lineage.mask.step``) answers as the rewrite does: without loading it
when nothing is classified, through it otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lineage.decide.catalog import Catalog
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.mask import step
from lineage.mask.rewrite import mask_statement as rewrite
from lineage.policy import default_policy, load_policy_text

POLICY = Path(__file__).resolve().parents[1] / "data" / "masking_policy.yaml"

STATEMENTS = [
    "SELECT 1",
    "SELECT * FROM crm.customers",
    "SELECT email, ssn FROM crm.customers WHERE salary > 10",
    "SELECT md5(ssn), my_udf(email) FROM crm.customers",
    "WITH x AS (SELECT ssn FROM crm.customers) SELECT * FROM x",
    "SELECT * FROM pg_catalog.pg_stats",
    "SELECT * FROM pg_stats WHERE tablename = 'customers'",
    "INSERT INTO raw.copy SELECT * FROM crm.customers",
    "UPDATE crm.customers SET email = 'x' WHERE id = 1 RETURNING ssn",
    "DELETE FROM crm.customers RETURNING *",
    "CREATE TABLE raw.t AS SELECT email FROM crm.customers",
    "COPY crm.customers TO '/tmp/out.csv'",
    "COPY (SELECT ssn FROM crm.customers) TO STDOUT",
    "EXPLAIN ANALYZE SELECT ssn FROM crm.customers",
    "SELECT card_number FROM crm.payments",
    "DROP TABLE crm.customers",
    "SET search_path = crm",
    "GRANT SELECT ON crm.customers TO PUBLIC",
    "SELECT FROM WHERE",
    "SELECT pg_read_file('/etc/passwd')",
]
IDENTITIES = [
    RunIdentity(principal="alice@corp", groups=("analysts",), environment="dev"),
    RunIdentity(principal="olga@corp", groups=("privacy-officers",), environment="prod"),
]


def unclassified_policy():
    document = yaml.safe_load(POLICY.read_text())
    del document["classifications"]  # masking rules, a key, exemptions and zones stay
    return load_policy_text(yaml.safe_dump(document))


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("LINEAGE_TEST_MASKING_KEY", "k" * 32)


@pytest.mark.parametrize("policy", [default_policy, unclassified_policy], ids=["default policy", "masking rules, no classification"])
@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
def test_with_nothing_classified_the_step_answers_as_the_rewrite(policy, dialect, catalog_path):
    engine = Engine(policy(), Catalog.from_json_file(catalog_path, dialect=dialect), dialect=dialect)
    assert not engine.classifier.entries
    for sql in STATEMENTS:
        for facts in engine.analyze(sql):
            for identity in IDENTITIES:
                context = engine.context(identity)
                assert step.mask_statement(facts, context) == rewrite(facts, context), (sql, identity.principal)


def test_with_a_classified_column_the_step_is_the_rewrite(catalog_path):
    engine = Engine(load_policy_text(POLICY.read_bytes()), Catalog.from_json_file(catalog_path, dialect="postgres"))
    facts = engine.analyze("SELECT email, ssn FROM crm.customers")[0]
    context = engine.context(IDENTITIES[0])
    result = step.mask_statement(facts, context)
    assert result == rewrite(facts, context)
    assert {column.column for column in result.masked_columns} == {"email", "ssn"} and result.sql is not None
