"""The dbt pre-flight on its own (no dbt): DAG lineage, zones, masks, governed reads, schema
changes; the macros' plan and keys; classifications from column meta; the dbt identity."""

from __future__ import annotations

import json

import pytest

from lineage.decide.catalog import Catalog
from lineage.decide.classify import ClassificationEntry
from lineage.adapters.dbt.manifest import column_tags, meta_classifications, relation_name, topological
from lineage.adapters.dbt.node import Node
from lineage.adapters.dbt.plan import macro_plan
from lineage.adapters.dbt.preflight import Preflight
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.mask.keys import derive_key
from lineage.mask.strategies._keyed import padded_keys
from lineage.model import Action
from lineage.policy import load_policy_text

POLICY = """
version: 1
classifications:
  - table: raw.customers
    columns: {ssn: pii.ssn}
masking:
  hash_key: {env: LINEAGE_TEST_MASKING_KEY}
  rules:
    - {tags: [pii.email], strategy: email}
    - {tags: [pii.ssn], strategy: hash, args: {length: 16}}
    - {tags: [pii.dob], strategy: date_trunc, args: {part: year}}
  unmasked_for:
    - {group: privacy-officers}
guardrails:
  - {rule: drop_column, action: require_approval}
  - {rule: rename, action: require_approval}
zones:
  - {tags: ["pii.*"], allowed: ["raw.*", "staging.*"]}
"""

SOURCE = "source.shop.shop.customers"
STG = "model.shop.stg_customers"
DIM = "model.shop.dim_customers"
RELATIONS = {SOURCE: "db.raw.customers", STG: "db.staging.stg_customers", DIM: "db.marts.dim_customers"}
MASTER = "master-key-for-the-dbt-tests-0123456789"


def catalog(extra: dict | None = None) -> Catalog:
    tables = {"raw": {"customers": {"id": "INTEGER", "email": "VARCHAR", "ssn": "VARCHAR", "birth_date": "DATE", "city": "VARCHAR"}}}
    for schema, table in (extra or {}).items():
        tables.setdefault(schema, {}).update(table)
    return Catalog.from_mapping({"db": tables}, dialect="duckdb")


def preflight(groups=(), extra_catalog=None, exposures=None, contracts=()):
    meta = [ClassificationEntry("db.raw.customers", "email", ("pii.email",), "dbt:" + SOURCE),
            ClassificationEntry("db.raw.customers", "birth_date", ("pii.dob",), "dbt:" + SOURCE)]
    engine = Engine(load_policy_text(POLICY, "<test>"), catalog(extra_catalog), "duckdb", extra_classifications=meta, masker=None)
    identity = RunIdentity("svc:dbt", groups=tuple(groups))
    return Preflight(engine, identity, RELATIONS, exposures or {}, contracts)


def stg(governed=True, sql=None) -> Node:
    sql = sql or 'select id as customer_id, email, ssn, birth_date, city from "db"."raw"."customers"'
    return Node(STG, "model", sql=sql, relation=RELATIONS[STG], materialized="table", governed=(SOURCE,) if governed else ())


def dim(sql: str, governed=True) -> Node:
    return Node(DIM, "model", sql=sql, relation=RELATIONS[DIM], materialized="table", governed=(STG,) if governed else ())


def findings(report, rule=None):
    return [(node, f) for node, f in report.findings if rule is None or f.rule == rule]


def test_raw_email_into_a_mart_is_blocked_naming_the_whole_path():
    report = preflight(groups=("privacy-officers",)).run([stg(), dim('select customer_id, email from "db"."staging"."stg_customers"')])
    zone = findings(report, "pii_to_unapproved_zone")
    assert [node for node, _ in zone] == [DIM]
    finding = zone[0][1]
    assert finding.action == Action.BLOCK and report.blocked
    assert finding.detail["path"] == ["db.raw.customers.email", "db.staging.stg_customers.email", "db.marts.dim_customers.email"]
    assert "db.raw.customers.email -> db.staging.stg_customers.email -> db.marts.dim_customers.email" in finding.message
    assert "zones[0]" in finding.message


def test_a_mask_call_makes_the_value_safe_for_the_mart_and_stays_in_the_lineage():
    sql = "select customer_id, lineage_mask(email, 'email', '') as email, lineage_mask(birth_date, 'date_trunc', '') as birth_year from \"db\".\"staging\".\"stg_customers\""
    report = preflight(groups=("privacy-officers",)).run([stg(), dim(sql)])
    assert not findings(report, "pii_to_unapproved_zone") and report.action == Action.ALLOW
    lineage = report.result(DIM).lineage
    assert lineage["db.marts.dim_customers.email"] == {"db.staging.stg_customers.email": ("TRANSFORMATION", True)}
    carried = report.columns["db.marts.dim_customers"]["email"]["pii.email"]
    assert carried.raw is False and carried.path[-1] == "db.marts.dim_customers.email"


def test_governed_reads_mask_for_an_identity_that_is_not_exempt():
    report = preflight().run([stg(), dim('select customer_id, email from "db"."staging"."stg_customers"')])
    assert report.action == Action.ALLOW
    masks = report.masks["db.raw.customers"]
    assert {column: mask.strategy for column, mask in masks.items()} == {"email": "email", "ssn": "hash", "birth_date": "date_trunc"}
    assert report.result(STG).lineage["db.staging.stg_customers.email"] == {"db.raw.customers.email": ("IDENTITY", True)}
    # what the staging model holds is masked, so the mart may have it
    assert report.columns["db.staging.stg_customers"]["email"]["pii.email"].raw is False


def test_an_ungoverned_read_of_classified_columns_is_refused_for_a_masked_identity():
    report = preflight().run([stg(governed=False)])
    refused = findings(report, "masking_refused")
    assert {f.object for _, f in refused} == {"db.raw.customers.email", "db.raw.customers.ssn", "db.raw.customers.birth_date"}
    assert all(f.detail["reason"] == "unmasked_read" and f.action == Action.BLOCK for _, f in refused)
    assert report.blocked


def test_a_second_raw_reference_beside_a_governed_one_is_not_governed():
    sql = 'select c.id, d.email from "db"."raw"."customers" as c join "db"."raw"."customers" as d on c.id = d.id'
    report = preflight().run([stg(sql=sql)])  # one governed call, two references: one read is raw
    assert findings(report, "masking_refused")


def test_a_dropped_column_needs_approval_and_names_its_users_and_exposures():
    live = {"staging": {"stg_customers": {"customer_id": "INTEGER", "email": "VARCHAR", "ssn": "VARCHAR", "birth_date": "DATE", "city": "VARCHAR"}}}
    nodes = [
        stg(sql='select id as customer_id, email, ssn, birth_date from "db"."raw"."customers"'),
        dim('select customer_id, city from "db"."staging"."stg_customers"'),
    ]
    pf = preflight(extra_catalog=live, exposures={"exposure.shop.dashboard": (DIM,)}, contracts=[DIM])
    report = pf.run(nodes)
    dropped = [f for node, f in findings(report, "drop_column") if node == STG]
    assert [f.object for f in dropped] == ["db.staging.stg_customers.city"]
    assert dropped[0].action == Action.REQUIRE_APPROVAL and report.needs_approval
    assert dropped[0].detail["used_by"] == [f"{DIM} [contract] (city)", "exposure.shop.dashboard"]
    assert report.usage[STG]["city"] == dropped[0].detail["used_by"]
    decision = report.decision_for(report.result(STG))
    assert decision.action == Action.REQUIRE_APPROVAL and decision.findings == tuple(report.result(STG).findings)


def test_a_renamed_column_is_a_rename_not_a_drop():
    live = {"staging": {"stg_customers": {"customer_id": "INTEGER", "email": "VARCHAR", "town": "VARCHAR"}}}
    node = stg(sql='select id as customer_id, email, city from "db"."raw"."customers"')
    report = preflight(extra_catalog=live).run([node])
    assert [f.rule for _, f in report.findings if f.rule in ("rename", "drop_column")] == ["rename"]
    assert "renames column town of db.staging.stg_customers to city" in findings(report, "rename")[0][1].message


def test_a_retyped_column_is_reported():
    live = {"staging": {"stg_customers": {"customer_id": "VARCHAR", "email": "VARCHAR"}}}
    node = stg(sql='select cast(id as integer) as customer_id, email from "db"."raw"."customers"')
    retyped = findings(preflight(extra_catalog=live).run([node]), "alter_column_type")
    assert retyped and "customer_id" in retyped[0][1].message and "VARCHAR" in retyped[0][1].message


def test_select_star_resolves_through_learned_models():
    nodes = [stg(), dim('select * from "db"."staging"."stg_customers"')]
    report = preflight(groups=("privacy-officers",)).run(nodes)
    assert report.result(DIM).output_columns == ("customer_id", "email", "ssn", "birth_date", "city")
    assert {node for node, f in findings(report, "pii_to_unapproved_zone")} == {DIM}


def test_incomplete_lineage_into_a_mart_fails_closed():
    report = preflight(groups=("privacy-officers",)).run([stg(), dim('select * from "db"."staging"."stg_customers", "db"."staging"."unknown"')])
    zone = findings(report, "pii_to_unapproved_zone")
    assert zone and report.blocked


def test_ephemeral_models_pass_their_governed_reads_to_the_node_that_inlines_them():
    ephemeral = Node("model.shop.eph", "model", materialized="ephemeral", governed=(SOURCE,))
    sql = 'with __dbt__cte__eph as (select id, email from "db"."raw"."customers") select id, email from __dbt__cte__eph'
    mart = Node("model.shop.m", "model", sql=sql, relation="db.staging.m", materialized="table")
    assert not findings(preflight().run([ephemeral, mart]), "masking_refused")
    assert findings(preflight().run([mart]), "masking_refused")  # the same SQL without the ephemeral's governed read


def test_seeds_are_learned_and_their_meta_tags_carried():
    seed = Node("seed.shop.raw_people", "seed", relation="db.raw.people", columns=("id", "email"))
    engine_meta = ClassificationEntry("db.raw.people", "email", ("pii.email",), "dbt:seed")
    pf = preflight(groups=("privacy-officers",))
    pf.engine.classifier = pf.engine.classifier.with_entries([engine_meta])
    mart = Node("model.shop.people", "model", sql='select * from "db"."raw"."people"', relation="db.marts.people", materialized="table")
    report = pf.run([seed, mart])
    assert report.result("model.shop.people").output_columns == ("id", "email")
    assert findings(report, "pii_to_unapproved_zone")[0][1].detail["path"] == ["db.raw.people.email", "db.marts.people.email"]


def test_only_selected_nodes_have_findings():
    nodes = [Node(STG, "model", sql=stg(governed=False).sql, relation=RELATIONS[STG], materialized="table", selected=False)]
    assert preflight().run(nodes).findings == []


def test_the_plan_holds_masks_and_derived_key_pads_never_the_master_key(monkeypatch):
    monkeypatch.setenv("LINEAGE_TEST_MASKING_KEY", MASTER)
    pf = preflight()
    report = pf.run([stg(), dim("select customer_id, lineage_mask(ssn, 'hash', 'pii.ssn') as s from \"db\".\"staging\".\"stg_customers\"")])
    plan = macro_plan(report, pf.planner, "duckdb", {STG: "apr-1"}, {"db.raw.customers": ["id", "email", "ssn", "birth_date", "city"]})
    assert plan["relations"]["db.raw.customers"]["masks"]["ssn"] == {"strategy": "hash", "args": {"length": 16}, "tag": "pii.ssn", "tags": ["pii.ssn"]}
    assert plan["relations"]["db.staging.stg_customers"]["masks"] == {}  # governed, nothing left to mask
    assert plan["keys"] == {"hash|pii.ssn": list(padded_keys(derive_key(MASTER.encode(), "hash", "pii.ssn")))}
    assert plan["approved"] == {STG: "apr-1"}
    assert MASTER not in json.dumps(plan) and MASTER.encode().hex() not in json.dumps(plan)


def test_mask_calls_get_keys_only_for_what_the_policy_masks_that_way(monkeypatch):
    monkeypatch.setenv("LINEAGE_TEST_MASKING_KEY", MASTER)
    pf = preflight(groups=("privacy-officers",))
    sql = "select lineage_mask(email, 'hash', 'pii.email') as a, lineage_mask(ssn, 'hash', 'pii.ssn') as b from \"db\".\"raw\".\"customers\""
    report = pf.run([Node("model.shop.x", "model", sql=sql, relation="db.staging.x", materialized="table")])
    plan = macro_plan(report, pf.planner, "duckdb")
    assert set(plan["keys"]) == {"hash|pii.ssn"}  # pii.email is masked with email, so no hash key for it


def test_meta_classifications_from_manifest_nodes():
    source = {"resource_type": "source", "unique_id": SOURCE, "database": "db", "schema": "raw", "identifier": "customers", "name": "customers",
              "columns": {"email": {"name": "email", "meta": {"classification": "pii.email"}},
                          "ssn": {"name": "ssn", "config": {"meta": {"classification": ["pii.ssn", "pii.national_id"]}}},
                          "id": {"name": "id", "meta": {}}}}
    model = {"resource_type": "model", "unique_id": STG, "database": "db", "schema": "staging", "alias": "stg_customers", "name": "stg_customers",
             "config": {"materialized": "ephemeral"}, "columns": {"email": {"name": "email", "meta": {"classification": "pii.email"}}}}
    entries = meta_classifications([source, model])
    assert [(e.table, e.column, e.tags) for e in entries] == [("db.raw.customers", "email", ("pii.email",)), ("db.raw.customers", "ssn", ("pii.ssn", "pii.national_id"))]
    assert relation_name(model) is None and column_tags({"meta": {"classifications": ["a.b"]}}) == ("a.b",)


def test_topological_order_puts_parents_first():
    parents = {"c": ["b"], "b": ["a", "x"], "a": []}
    assert topological(["c", "b", "a"], parents) == ["a", "b", "c"]


def test_keyed_masks_without_a_key_refuse_the_run(monkeypatch):
    from lineage.adapters.dbt.plan import PlanError

    monkeypatch.delenv("LINEAGE_TEST_MASKING_KEY", raising=False)
    pf = preflight()
    report = pf.run([stg()])
    with pytest.raises(PlanError, match="no usable key"):
        macro_plan(report, pf.planner, "duckdb")


def test_dbt_identity_nests_under_the_airflow_task_from_openlineage_context():
    from lineage.adapters.dbt.identity import comment_environment, dbt_identity

    context = {"parent": {"run": {"runId": "01a22000-0000-7000-8000-0000000000aa"}, "job": {"namespace": "airflow", "name": "shop.dbt_build"},
                          "root": {"run": {"runId": "01a22000-0000-7000-8000-0000000000bb"}, "job": {"namespace": "airflow", "name": "shop"}}}}
    identity = dbt_identity("governed_shop", "build", env={"OPENLINEAGE_CONTEXT": json.dumps(context), "LINEAGE_PRINCIPAL": "svc:dbt",
                                                           "AIRFLOW_CTX_DAG_ID": "shop", "AIRFLOW_CTX_TASK_ID": "dbt_build"})
    assert (identity.job_namespace, identity.job_name) == ("airflow", "shop.dbt_build.dbt.governed_shop.build")
    assert (identity.parent_run_id, identity.parent_job_name) == ("01a22000-0000-7000-8000-0000000000aa", "shop.dbt_build")
    assert (identity.root_run_id, identity.root_job_name) == ("01a22000-0000-7000-8000-0000000000bb", "shop")
    assert identity.source == "dbt" and identity.attributes == {"dag_id": "shop", "task_id": "dbt_build"}
    exported = comment_environment(identity, "sha256:abc")
    assert exported["LINEAGE_RUN_ID"] == identity.run_id and exported["OPENLINEAGE_PARENT_ID"] == "airflow/shop.dbt_build/01a22000-0000-7000-8000-0000000000aa"
    assert "LINEAGE_APPLICATION_NAME" not in exported  # never in the profile: dbt hashes it for partial parsing
    with pytest.raises(ValueError, match="OPENLINEAGE_CONTEXT"):
        dbt_identity("p", env={"OPENLINEAGE_CONTEXT": "{\"parent\": 1}"})


def test_cli_prints_the_macros_path_and_refuses_bad_input(cli):
    from lineage.adapters.dbt import macros_path

    result = cli("dbt", "macros-path")
    assert result.code == 0 and result.out.strip() == str(macros_path())
    assert "name: lineage_governance" in (macros_path() / "dbt_project.yml").read_text()
    assert not [path for path in macros_path().rglob("*.py")]  # a dbt package, not Python
    assert cli("dbt").code == 2
    missing = cli("dbt", "--policy", "no-such-policy.yaml", "build")
    assert missing.code == 2 and "no such policy file" in missing.err


def test_audit_mode_masks_nothing_governed_and_blocks_nothing(monkeypatch):
    audit = POLICY.replace("version: 1", "version: 1\nmode: audit")
    meta = [ClassificationEntry("db.raw.customers", "email", ("pii.email",), "dbt")]
    engine = Engine(load_policy_text(audit, "<audit>"), catalog(), "duckdb", extra_classifications=meta, masker=None)
    pf = Preflight(engine, RunIdentity("svc:dbt"), RELATIONS)
    report = pf.run([stg(governed=False), stg()])
    assert report.findings and report.action == Action.BLOCK and not report.blocked  # decided and recorded, not enforced
    monkeypatch.setenv("LINEAGE_TEST_MASKING_KEY", MASTER)
    plan = macro_plan(report, pf.planner, "duckdb")
    assert plan["relations"]["db.raw.customers"]["masks"] == {}


def test_the_policys_identity_section_names_the_principal_and_its_groups():
    from lineage.adapters.dbt.identity import governed_identity

    policy = load_policy_text("""
version: 1
identity:
  principals:
    - {jobs: ["shop_dag.*"], principal: "svc:{dag_id}"}
  groups:
    - {principal: "svc:*", groups: [pipelines]}
    - {principal: "alice", groups: [privacy-officers]}
""", "<identity>").policy
    airflow = {"AIRFLOW_CTX_DAG_ID": "shop_dag", "AIRFLOW_CTX_TASK_ID": "dbt_build", "AIRFLOW_CTX_DAG_OWNER": "data-eng",
               "AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2024-01-01T00:00:00+00:00"}
    named = governed_identity(policy, "governed_shop", "build", airflow)
    assert named.principal == "svc:shop_dag" and named.groups == ("pipelines",)
    explicit = governed_identity(policy, "governed_shop", "build", {**airflow, "LINEAGE_PRINCIPAL": "alice", "LINEAGE_GROUPS": "analysts"})
    assert explicit.principal == "alice" and explicit.groups == ("analysts", "privacy-officers")
    owner = governed_identity(policy, "governed_shop", "build", {**airflow, "AIRFLOW_CTX_DAG_ID": "other_dag"})
    assert owner.principal == "data-eng"  # the default rule: the DAG's owner


def classified_mart(groups=()):
    """The preflight with the mart's own email column classified too (as column meta on the model would)."""
    pf = preflight(groups=groups)
    own = ClassificationEntry(RELATIONS[DIM], "email", ("pii.email",), "dbt:" + DIM)
    pf.engine.classifier = pf.engine.classifier.with_entries([own])
    return pf


def test_a_mart_whose_own_column_is_classified_is_not_blocked_when_its_source_is_read_masked():
    report = classified_mart().run([stg(), dim('select customer_id, email from "db"."staging"."stg_customers"')])
    assert findings(report, "pii_to_unapproved_zone") == [] and report.action == Action.ALLOW
    carried = report.columns["db.marts.dim_customers"]["email"]["pii.email"]
    assert carried.raw is False and carried.path[0] == "db.raw.customers.email"


def test_a_classified_mart_column_still_blocks_raw_values_arriving_from_its_sources():
    report = classified_mart(groups=("privacy-officers",)).run([stg(), dim('select customer_id, email from "db"."staging"."stg_customers"')])
    zone = findings(report, "pii_to_unapproved_zone")
    assert [f.detail["path"] for _, f in zone] == [["db.raw.customers.email", "db.staging.stg_customers.email", "db.marts.dim_customers.email"]]


def test_a_classified_mart_column_fed_by_unclassified_values_is_no_zone_breach_but_stays_raw_downstream():
    report = classified_mart().run([stg(), dim('select customer_id, city as email from "db"."staging"."stg_customers"')])
    assert findings(report, "pii_to_unapproved_zone") == []
    assert report.columns["db.marts.dim_customers"]["email"]["pii.email"].raw is True  # what it holds is classified and unmasked


def test_a_seed_outside_its_tags_zone_is_still_a_breach():
    pf = preflight()
    pf.engine.classifier = pf.engine.classifier.with_entries([ClassificationEntry("db.marts.people", "email", ("pii.email",), "dbt:seed")])
    report = pf.run([Node("seed.shop.people", "seed", relation="db.marts.people", columns=("id", "email"))])
    assert [f.object for _, f in findings(report, "pii_to_unapproved_zone")] == ["db.marts.people.email"]


def test_the_zone_check_lives_in_classify_and_the_rule_uses_it():
    from types import SimpleNamespace

    from lineage.decide.classify import zone_breach

    zones = [SimpleNamespace(tags=["pii.*"], allowed=["raw.*"]), SimpleNamespace(tags=["pii.email"], allowed=["crm.*"])]
    breach = zone_breach(zones, "pii.email", "marts.contacts")
    assert breach.zones == (0, 1) and breach.allowed == ("raw.*", "crm.*")
    assert zone_breach(zones, "pii.email", "crm.contacts") is None and zone_breach(zones, "fin.amount", "marts.x") is None


def test_select_star_through_a_masked_governed_read_is_no_warning():
    star = Node(STG, "model", sql='select * from "db"."raw"."customers"', relation=RELATIONS[STG], materialized="view", governed=(SOURCE,))
    masked = preflight().run([star])
    assert findings(masked, "select_star_on_classified") == [] and masked.action == Action.ALLOW
    # raw for a privacy officer, and raw through an ungoverned read: the warning stays
    raw = preflight(groups=("privacy-officers",)).run([star])
    assert [f.object for _, f in findings(raw, "select_star_on_classified")] == ["db.raw.customers"]
    ungoverned = preflight(groups=("privacy-officers",)).run([Node(STG, "model", sql=star.sql, relation=RELATIONS[STG], materialized="view")])
    assert findings(ungoverned, "select_star_on_classified")
