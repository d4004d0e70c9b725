"""dbt's swap names (``m__dbt_tmp``, ``m__dbt_backup``) are no exemption of their own.

Only dbt (run identity source ``dbt``), for the node being built (its ``dbt_relation``), may
rename ``m`` to ``m__dbt_backup``, ``m__dbt_tmp`` to ``m`` and drop either without a ``rename``
or ``drop_table`` finding; anyone else renaming a table to a swap-shaped name, or dropping one,
is judged as for any table. And ``m``'s classification covers its swap relations: a read of
``m__dbt_backup`` is masked like a read of ``m``."""

from __future__ import annotations

import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action

from redteam_support import BOTH, PIPELINE, REFUSED, refused_or_clean
from redteam_support import pg_dsn, sessions  # noqa: F401  (fixtures)
from masking_fixture import key_env  # noqa: F401  (fixture)

SWAP = [
    'alter table "analytics"."main"."customers" rename to "customers__dbt_backup"',
    'alter table "analytics"."main"."customers__dbt_tmp" rename to "customers"',
    'drop table if exists "analytics"."main"."customers__dbt_backup" cascade',
    'drop table if exists "analytics"."main"."customers__dbt_tmp" cascade',
]
DBT_NODE = RunIdentity(principal="svc:etl", environment="prod", source="dbt", attributes={"dbt_relation": "analytics.main.customers"})


def _rules(engine: Engine, sql: str, identity: RunIdentity) -> tuple[Action, list[str]]:
    decision = engine.check(sql, identity)[0]
    return decision.action, [finding.rule for finding in decision.findings]


@pytest.mark.parametrize("sql", SWAP)
def test_dbt_swapping_its_own_node_in_is_no_rename_or_drop(engine, sql):
    action, rules = _rules(engine, sql, DBT_NODE)
    assert action == Action.ALLOW, rules


@pytest.mark.parametrize("sql", SWAP)
@pytest.mark.parametrize("identity", [
    DBT_NODE.with_(source="cli"),  # not dbt
    DBT_NODE.with_(source="dbapi"),
    DBT_NODE.with_(source="airflow"),
    DBT_NODE.with_(attributes={}),  # dbt, but no node
    DBT_NODE.with_(attributes={"dbt_relation": "analytics.main.orders"}),  # another node's names
    DBT_NODE.with_(attributes={"dbt_relation": "analytics.other.customers"}),  # the same name in another schema
], ids=["cli", "dbapi", "airflow", "dbt-no-node", "dbt-other-node", "dbt-other-schema"])
def test_swap_names_from_anyone_else_are_judged_like_any_table(engine, sql, identity):
    action, rules = _rules(engine, sql, identity)
    assert {"rename", "drop_table"} & set(rules), rules
    assert action in (Action.BLOCK, Action.REQUIRE_APPROVAL)


def test_a_dbt_node_renaming_another_table_to_its_swap_name_is_a_rename(engine):
    sql = 'alter table "analytics"."main"."orders" rename to "customers__dbt_backup"'
    assert "rename" in _rules(engine, sql, DBT_NODE)[1]
    sql = 'alter table "analytics"."main"."customers" rename to "customers__dbt_tmp"'  # not dbt's direction
    assert "rename" in _rules(engine, sql, DBT_NODE)[1]


def test_a_decision_for_a_dbt_node_is_not_reused_for_another_source(engine):
    """The decision cache keys on the node's relation: the same principal outside dbt is judged anew."""
    sql = SWAP[2]
    assert _rules(engine, sql, DBT_NODE)[0] == Action.ALLOW
    assert "drop_table" in _rules(engine, sql, DBT_NODE.with_(source="cli", attributes={}))[1]


def test_a_swap_relation_carries_its_models_classification(engine):
    for name in ("crm.customers__dbt_backup", "crm.customers__dbt_tmp"):
        assert engine.classifier.is_classified_table(name)
        assert engine.classifier.tags(name, "email") == engine.classifier.tags("crm.customers", "email")
    assert not engine.classifier.is_classified_table("crm.leak__dbt_tmp")


# the attacks, end to end on the synthetic warehouse (tests/masking_fixture.py)
@BOTH
@pytest.mark.parametrize("swap_name", ["customers__dbt_backup", "leak__dbt_tmp"])
def test_renaming_a_protected_table_to_a_dbt_swap_name_does_not_unmask_it(sessions, kind, swap_name):
    session = sessions(kind)
    assert isinstance(session.attempt(f"ALTER TABLE crm.customers RENAME TO {swap_name}"), REFUSED)
    refused_or_clean(session.attempt(f"SELECT full_name, email, ssn, salary FROM crm.{swap_name}"), f"read of crm.{swap_name}")


@BOTH
@pytest.mark.parametrize("suffix", ["__dbt_backup", "__dbt_tmp"])
@pytest.mark.parametrize("qualified", [True, False])
def test_a_read_of_an_existing_swap_relation_is_masked_like_its_model(sessions, kind, suffix, qualified):
    """The swap relation dbt (or anyone) left behind holds the model's rows: they stay masked."""
    session = sessions(kind)
    session.raw.execute(f"CREATE TABLE crm.customers{suffix} AS SELECT * FROM crm.customers")
    if not qualified:
        session.attempt("SET search_path = crm" if kind == "postgres" else "SET schema = 'crm'")
    name = f"crm.customers{suffix}" if qualified else f"customers{suffix}"
    for sql in (f"SELECT full_name, email, ssn, salary FROM {name}", f"SELECT * FROM {name}"):
        outcome = session.attempt(sql)
        refused_or_clean(outcome, f"read of {name}")


@BOTH
def test_a_table_cannot_be_dropped_by_renaming_it_to_a_dbt_swap_name_first(sessions, kind):
    session = sessions(kind, PIPELINE)
    session.attempt("ALTER TABLE crm.orders RENAME TO orders__dbt_backup")
    session.attempt("DROP TABLE crm.orders__dbt_backup")
    tables = session.raw_rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm' ORDER BY 1")
    assert ("orders",) in tables, f"crm.orders is gone: {tables}"


@pytest.mark.dbt
def test_a_governed_dbt_build_records_its_own_swaps_and_seed_loads_as_no_findings(tmp_path):
    """``lineage dbt``'s sidecar judges each statement with its node's relation: the models' swaps
    (rename to ``__dbt_backup``, drop) and dbt-duckdb's seed ``COPY ... FROM '<seed>.csv'`` are the
    nodes' own, so the ledger holds no rename, drop_table or file_read finding for them."""
    from dbt_runs import Warehouse, governed
    from testkit.dbt_project import example_project

    project = example_project(tmp_path / "project")
    run = governed(Warehouse("duckdb", tmp_path), project, tmp_path / "state", ["build"])
    assert run.outcome.exit_code == 0, run.outcome.message
    records = [body for body in run.ledger() if body["kind"] == "statement" and body["phase"] == "started"]
    kinds = {body["statement"]["kind"] for body in records}
    assert {"alter_table", "copy_in"} <= kinds or {"alter_view", "copy_in"} <= kinds, kinds  # the swap and the seeds ran
    swaps = [body for body in records if "__dbt_backup" in body["statement"]["sql"]]
    assert swaps, "no dbt swap statement in the ledger"
    found = [(body["statement"]["sql"][:80], finding["rule"]) for body in records for finding in body["decision"]["findings"]
             if finding["rule"] in ("rename", "drop_table", "drop_cascade", "file_read")]
    assert found == []
