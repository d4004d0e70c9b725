"""dbt: a view keeps its SQL in the warehouse's catalog (duckdb_views(), pg_views), which masked
identities may read; a keyed mask (hash, pseudonym) rendered by the governed source() into a view
would keep the derived key's HMAC pads there, and anyone could recompute the mask of any candidate
value. mask_key refuses to hand out pads to a model materialized as a view (or materialized view, or
ephemeral: its SQL is inlined into its readers), with a message saying to materialize it as a table;
a table model still gets its keyed masks."""

from __future__ import annotations

import hashlib
import re

import pytest

from lineage.adapters.dbapi import govern
from lineage.identity.run_identity import RunIdentity

from redteam_support import REFUSED

KEY = "redteam-dbt-key-0123456789abcdef"


@pytest.mark.dbt
def test_dbt_view_models_do_not_store_key_material_a_masked_identity_can_read(tmp_path, monkeypatch, capfd):
    import duckdb

    import dbt_runs as runner
    from testkit.dbt_project import example_project

    hashed = runner.POLICY.read_text().replace("    strategy: show_last\n    args:\n      chars: 4", "    strategy: hash\n    args:\n      length: 16")
    hashed = hashed.replace("masking:\n", "masking:\n  hash_key: {env: LINEAGE_MASKING_KEY}\n", 1)
    assert "strategy: hash" in hashed
    policy = tmp_path / "policy.yaml"
    policy.write_text(hashed)
    monkeypatch.setattr(runner, "POLICY", policy)
    project = example_project(tmp_path / "project")
    (project / "models" / "staging" / "stg_ssn_view.sql").write_text(
        "{{ config(materialized='view') }}\n-- depends_on: {{ builtins.ref('raw_customers') }}\n"
        "select id, ssn from {{ source('shop', 'customers') }}\n"
    )
    (project / "models" / "staging" / "stg_ssn_table.sql").write_text(
        "-- depends_on: {{ builtins.ref('raw_customers') }}\nselect id, ssn from {{ source('shop', 'customers') }}\n"
    )
    warehouse = runner.Warehouse("duckdb", tmp_path)
    run = runner.governed(warehouse, project, tmp_path / "state", ["build", "--select", "raw_customers", "stg_ssn_view", "stg_ssn_table"],
                          LINEAGE_MASKING_KEY=KEY)
    output = capfd.readouterr()
    raw_ssns = {row[0] for row in warehouse.rows("select ssn from raw.raw_customers")}
    # a table model keeps its keyed masks: 16 hex characters, no raw SSN
    hashed_ssns = {row[0] for row in warehouse.rows("select ssn from staging.stg_ssn_table")}
    assert hashed_ssns and all(re.fullmatch(r"[0-9a-f]{16}", value) for value in hashed_ssns) and not hashed_ssns & raw_ssns, hashed_ssns
    if "staging.stg_ssn_view" not in warehouse.tables():
        assert "materialize it as a table" in output.out + output.err, f"exit {run.outcome.exit_code}: refused without saying how to fix it"
        return  # refused: no view holds the key's pads
    masked = {row[0] for row in warehouse.rows("select ssn from staging.stg_ssn_view")}
    # the attacker: a masked identity, through the governed connection, reads the view's definition
    connection = duckdb.connect(str(warehouse.duckdb))
    try:
        governed_connection = govern(connection, policy=str(policy), identity=RunIdentity(principal="svc:reader"), ledger=False)
        definition = repr(governed_connection.execute("select sql from duckdb_views() where view_name = 'stg_ssn_view'").fetchall())
    except REFUSED:
        return
    finally:
        connection.close()
    pads = [bytes.fromhex(found) for found in re.findall(r"unhex\(\\?'([0-9a-f]{128})", definition)]
    recovered = set()
    if len(pads) == 2:
        outer, inner = pads
        for candidate in raw_ssns:  # stands for the 10^9 candidates an attacker would try
            mask = hashlib.sha256(outer + hashlib.sha256(inner + candidate.encode()).digest()).hexdigest()[:16]
            if mask in masked:
                recovered.add(candidate)
    assert not recovered, f"exit {run.outcome.exit_code}: from the view's definition a masked identity recomputes the masks of {len(recovered)} SSNs"
