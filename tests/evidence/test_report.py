"""``lineage report``: one self-contained HTML file, checked in headless Chromium."""

from __future__ import annotations

import re

import duckdb
import pytest

from lineage.approve.verify import signer_for
from lineage.approve.approvals import Approvals, ApprovalStore
from lineage.decide.catalog import Catalog
from lineage.adapters.dbapi import govern
from lineage.decide.engine import Engine
from lineage.deliver.emit import emitter_from_environment
from lineage.deliver.governance import GovernanceEvents
from lineage.governor import ApprovalRequired, StatementBlocked
from lineage.identity.run_identity import RunIdentity
from lineage.record import open_ledger
from lineage.policy import load_policy_text
from lineage.approve.approver_keys import ApproverKeys
from testkit.browser import count_color, load_page

POLICY_TEXT = """
classifications:
  - table: raw.customers
    columns: {email: pii.email, ssn: pii.ssn}
masking:
  rules:
    - {tags: [pii.email], strategy: email}
    - {tags: [pii.ssn], strategy: show_last, args: {chars: 4}}
approvals:
  approvers: [{group: data-owners}]
zones:
  - {tags: ["pii.*"], allowed: ["raw.*"]}
identity:
  groups: [{principal: olga@corp, groups: [data-owners]}]
"""
RAW_VALUES = ("ann.lee@example.com", "123-45-6789")


@pytest.fixture(scope="module")
def governed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    keys = ApproverKeys(root / "keys")
    policy = load_policy_text(keys.policy_text(POLICY_TEXT, ["olga@corp"]))
    connection = duckdb.connect(str(root / "warehouse.duckdb"))
    connection.execute("create schema raw; create schema mart")
    connection.execute("create table raw.customers as select 1 as id, 'ann.lee@example.com' as email, '123-45-6789' as ssn, 'Lisbon' as city")
    connection.execute("create table raw.orders as select 1 as id, 1 as customer_id, 42.0 as amount")
    ledger = open_ledger(root / "ledger.db")
    emitter = emitter_from_environment(jsonl=root / "events.jsonl", spool=False)
    engine = Engine(policy, Catalog.from_duckdb(connection), dialect="duckdb")
    approvals = Approvals(policy, ApprovalStore(f"sqlite:///{root / 'approvals.db'}"), ledger=ledger)
    identity = RunIdentity(principal="svc:etl", environment="prod", job_namespace="demo", job_name="nightly_customers")
    governed = govern(connection, identity=identity, ledger=ledger, engine=engine, events=GovernanceEvents(emitter, engine), approvals=approvals)
    governed.execute(
        "create table mart.customer_orders as select c.id, c.email, c.city, sum(o.amount) as revenue "
        "from raw.customers c join raw.orders o on o.customer_id = c.id group by 1, 2, 3"
    )
    with pytest.raises(StatementBlocked):
        governed.execute("delete from raw.orders")
    with pytest.raises(ApprovalRequired) as held:
        governed.execute("alter table raw.orders drop column amount")
    approvals.approve(held.value.request_id, signer_for(policy.policy.approvals, keys.key("olga@corp")))
    governed.execute("alter table raw.orders drop column amount")
    emitter.close()
    return root, identity


def test_report_content(governed_run, cli):
    root, identity = governed_run
    out = root / "report.html"
    result = cli("report", "--ledger", str(root / "ledger.db"), "--events", str(root / "events.jsonl"), "--out", str(out))
    assert result.code == 0 and "ledger verified" in result.out
    html = out.read_text()
    assert identity.run_id in html and "svc:etl" in html
    assert "delete_without_where" in html and "refused (did not run)" in html
    assert "olga@corp" in html and "approved" in html
    assert "raw.customers.email" in html  # a masked column
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report must not load anything from the network"
    assert "<script" not in html
    for value in RAW_VALUES:
        assert value not in html


def test_report_opens_in_headless_chromium_and_shows_the_graph(governed_run, cli):
    root, _ = governed_run
    out = root / "report.html"
    cli("report", "--ledger", str(root / "ledger.db"), "--events", str(root / "events.jsonl"), "--out", str(out))
    page = load_page(
        out.as_uri(),
        {
            "graphs": "document.querySelectorAll('svg.lineage-graph').length",
            "masked_edges": "document.querySelectorAll('svg .edge.masked').length",
            "datasets": "Array.from(new Set(Array.from(document.querySelectorAll('svg .dataset')).map(g => g.dataset.name))).sort()",
            "classified": "document.querySelectorAll('svg .column.classified').length",
            "graph_visible": "(() => { const r = document.querySelector('svg.lineage-graph').getBoundingClientRect(); return r.width > 300 && r.height > 100 && r.top < innerHeight; })()",
        },
    )
    assert page.errors == []
    assert page.values["graphs"] >= 2 and page.values["masked_edges"] >= 1 and page.values["classified"] >= 2
    assert page.values["datasets"] == ["warehouse.mart.customer_orders", "warehouse.raw.customers", "warehouse.raw.orders"]
    assert page.values["graph_visible"] is True
    # the screenshot really shows the masked edge (orange) and the refused box (red)
    assert count_color(page.screenshot, (0xE6, 0x7E, 0x22)) > 40
    assert count_color(page.screenshot, (0xC0, 0x39, 0x2B)) > 40
    (root / "report.png").write_bytes(page.screenshot)


def test_a_tampered_ledger_shows_as_broken(governed_run, cli, tmp_path):
    import sqlite3

    root, _ = governed_run
    copy = tmp_path / "ledger.db"
    with sqlite3.connect(root / "ledger.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the WAL holds recent records: copy through SQLite, not the file
    with sqlite3.connect(copy) as connection:
        triggers = [row[0] for row in connection.execute("select name from sqlite_master where type = 'trigger'")]
        for name in triggers:
            connection.execute(f"drop trigger {name}")
        connection.execute("update lineage_ledger set body = replace(body, 'svc:etl', 'svc:nobody') where seq = 2")
    out = tmp_path / "report.html"
    result = cli("report", "--ledger", str(copy), "--events", str(root / "events.jsonl"), "--out", str(out))
    assert result.code == 1
    assert "BROKEN at record 2" in out.read_text()
