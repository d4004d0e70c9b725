"""The engine's cache and identity handling."""

from __future__ import annotations

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity, from_environment, parse_parent

import pytest


def test_cache_hits_and_keys(loaded_policy, catalog):
    engine = Engine(loaded_policy, catalog, cache_size=2)
    alice = RunIdentity(principal="alice@corp")
    first = engine.check("select * from crm.customers", alice)
    assert engine.check("select * from crm.customers", alice) is first
    assert (engine.hits, engine.misses) == (1, 1)
    officer = RunIdentity(principal="dana@corp", groups=("privacy-officers",))
    assert engine.check("select * from crm.customers", officer) is not first
    # a different run of the same principal shares the cached decision (run ids do not matter)
    assert engine.check("select * from crm.customers", RunIdentity(principal="alice@corp")) is first
    engine.check("select 1", alice)
    engine.check("select 2", alice)
    assert len(engine._cache) == 2


def test_identity_from_environment():
    parent = "airflow-prod/etl.load/0190a7f4-52a4-7c2b-9b3e-0c6f2b0b7a11"
    identity = from_environment(
        env={"LINEAGE_PRINCIPAL": "svc:etl", "LINEAGE_GROUPS": "etl, readers", "LINEAGE_ENV": "prod", "OPENLINEAGE_PARENT_ID": parent}
    )
    assert identity.principal == "svc:etl"
    assert identity.groups == ("etl", "readers")
    assert identity.environment == "prod"
    assert identity.parent_run_id == "0190a7f4-52a4-7c2b-9b3e-0c6f2b0b7a11"
    assert identity.parent_job_name == "etl.load" and identity.parent_job_namespace == "airflow-prod"
    assert identity.root_run_id == identity.parent_run_id
    assert from_environment(env={"USER": "bob"}).principal == "os:bob"
    with pytest.raises(ValueError):
        parse_parent("not-a-parent")
