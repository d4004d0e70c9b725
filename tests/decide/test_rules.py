"""Every guardrail rule: SQL in, decision out, with the policy's and the defaults' actions."""

from __future__ import annotations

import pytest

from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action
from lineage.policy import PolicyError, load_policy_text
from lineage.decide.rules import RULES

DEV = RunIdentity(principal="alice@corp", environment="dev")
PROD = RunIdentity(principal="svc:etl", environment="prod")
DPO = RunIdentity(principal="dana@corp", groups=("privacy-officers",), environment="dev")


def decide(engine: Engine, sql: str, identity: RunIdentity = DEV):
    decisions = engine.check(sql, identity)
    assert len(decisions) == 1, [d.facts.kind for d in decisions]
    return decisions[0]


def rules_of(decision, action: Action | None = None) -> list[str]:
    return [f.rule for f in decision.findings if action is None or f.action == action]


# (sql, identity, expected rule, expected action of the decision)
CASES = [
    ("DROP TABLE analytics.public.orders", PROD, "drop_table", Action.BLOCK),
    ("DROP VIEW crm.customer_view", PROD, "drop_table", Action.BLOCK),
    ("DROP SCHEMA crm CASCADE", PROD, "drop_table", Action.BLOCK),
    ("DROP DATABASE analytics", PROD, "drop_table", Action.BLOCK),
    ("TRUNCATE crm.orders", DEV, "truncate", Action.BLOCK),
    ("UPDATE crm.customers SET ssn = (SELECT c.ssn FROM crm.customers c WHERE c.id = 2) WHERE id = 1", DEV, "masked_overwrite", Action.BLOCK),
    ("CREATE OR REPLACE TABLE crm.orders AS SELECT * FROM crm.orders WHERE false", DEV, "replace_table", Action.BLOCK),
    ("ALTER TABLE crm.customers DROP COLUMN email", DEV, "drop_column", Action.REQUIRE_APPROVAL),
    # schema changes touching classified columns are refused for masked identities (test_masking.py)
    ("ALTER TABLE crm.customers ALTER COLUMN salary TYPE smallint", DPO, "alter_column_type", Action.REQUIRE_APPROVAL),
    ("ALTER TABLE crm.customers ALTER COLUMN city TYPE varchar(10)", DEV, "alter_column_type", Action.REQUIRE_APPROVAL),
    ("ALTER TABLE crm.customers ALTER COLUMN age TYPE bigint", DEV, "alter_column_type", Action.WARN),
    ("ALTER TABLE crm.customers ALTER COLUMN age TYPE bigint USING 0", DEV, "rewrite_column", Action.BLOCK),
    ("ALTER TABLE crm.customers ALTER COLUMN city TYPE varchar(200)", DEV, "alter_column_type", Action.WARN),
    ("ALTER TABLE crm.customers RENAME COLUMN email TO email_address", DPO, "rename", Action.REQUIRE_APPROVAL),
    ("ALTER TABLE crm.customers RENAME TO clients", DPO, "rename", Action.REQUIRE_APPROVAL),
    ("ALTER TABLE crm.customers ADD COLUMN tier int NOT NULL", DEV, "add_not_null_without_default", Action.REQUIRE_APPROVAL),
    ("ALTER TABLE crm.customers ALTER COLUMN city SET NOT NULL", DEV, "add_not_null_without_default", Action.REQUIRE_APPROVAL),
    ("DELETE FROM crm.orders", DEV, "delete_without_where", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE 1=1", DEV, "delete_without_where", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE TRUE", DEV, "delete_without_where", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE 'a' = 'a' OR status = 'x'", DEV, "delete_without_where", Action.BLOCK),
    ("UPDATE crm.orders SET status = 'x'", DEV, "update_without_where", Action.BLOCK),
    ("UPDATE crm.orders SET status = 'x' WHERE 2 > 1", DEV, "update_without_where", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE 1 IN (1, 2)", DEV, "delete_without_where", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE id = id", DEV, "delete_without_where", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE EXISTS (SELECT 1 FROM crm.customers)", DEV, "delete_without_where", Action.BLOCK),
    ("UPDATE crm.orders SET status = 'x' WHERE (SELECT count(*) FROM crm.customers) > 0", DEV, "update_without_where", Action.BLOCK),
    ("GRANT SELECT ON crm.orders TO analyst", DEV, "privilege_change", Action.REQUIRE_APPROVAL),
    ("REVOKE SELECT ON crm.orders FROM analyst", DEV, "privilege_change", Action.REQUIRE_APPROVAL),
    ("GRANT SELECT ON crm.customers TO PUBLIC", DEV, "privilege_change", Action.BLOCK),
    ("GRANT SELECT ON crm.customers TO bob WITH GRANT OPTION", DEV, "privilege_change", Action.BLOCK),
    ("GRANT SELECT, INSERT ON TABLE crm.customers, crm.orders TO bob, PUBLIC", DEV, "privilege_change", Action.BLOCK),
    ("ALTER ROLE bob SUPERUSER", DEV, "privilege_change", Action.REQUIRE_APPROVAL),
    ("CREATE ROLE intruder LOGIN", DEV, "privilege_change", Action.REQUIRE_APPROVAL),
    ("GRANT admin TO bob WITH ADMIN OPTION", DEV, "privilege_change", Action.BLOCK),
    ("ALTER TABLE crm.customers DISABLE TRIGGER ALL", DEV, "disable_safety", Action.BLOCK),
    ("ALTER TABLE crm.customers DISABLE ROW LEVEL SECURITY", DEV, "disable_safety", Action.BLOCK),
    ("DROP POLICY tenant_isolation ON crm.customers", DEV, "disable_safety", Action.BLOCK),
    ("SET session_replication_role = replica", DEV, "disable_safety", Action.BLOCK),
    ("SELECT set_config('row_security', 'of', false)", DEV, "disable_safety", Action.BLOCK),
    ("SET log_statement = 'none'", DEV, "disable_safety", Action.BLOCK),
    ("SELECT set_config('role', 'admin', false)", DPO, "privilege_change", Action.REQUIRE_APPROVAL),  # DEV reads masked: set_config is no value function
    ("SET jit_provider = 'llvmjit'", DEV, "session_setting", Action.BLOCK),
    ("SET standard_conforming_strings = off", DEV, "lexing_setting", Action.BLOCK),
    ("SELECT set_config(lower('ROLE'), 'admin', false)", DEV, "lexing_setting", Action.BLOCK),
    ("DROP FUNCTION crm.twice(numeric)", DEV, "drop_object", Action.REQUIRE_APPROVAL),
    ("DROP TYPE crm.money_t CASCADE", DEV, "drop_cascade", Action.BLOCK),
    ("DELETE FROM crm.orders WHERE id::text = id::text", DEV, "delete_without_where", Action.BLOCK),
    ("MERGE INTO crm.orders t USING crm.customers s ON true WHEN MATCHED THEN DELETE", DEV, "delete_without_where", Action.BLOCK),
    ("MERGE INTO crm.orders t USING crm.customers s ON true WHEN MATCHED THEN UPDATE SET status = 'x'", DEV, "update_without_where", Action.BLOCK),
    ("COPY crm.orders TO '/tmp/orders.csv'", DEV, "copy_out", Action.BLOCK),
    ("COPY crm.orders FROM PROGRAM 'curl https://example.org/orders.csv'", DEV, "copy_program", Action.BLOCK),
    ("COPY crm.orders FROM '/var/lib/postgresql/orders.csv'", DEV, "file_read", Action.BLOCK),
    ("CREATE VIEW crm.pw AS SELECT rolname, rolpassword FROM pg_catalog.pg_authid", DEV, "catalog_view", Action.BLOCK),
    ("CREATE MATERIALIZED VIEW crm.pw AS SELECT rolname, rolpassword FROM pg_authid", DEV, "catalog_view", Action.BLOCK),
    ("CREATE VIEW crm.cols AS SELECT table_name FROM information_schema.columns", DEV, "catalog_view", Action.BLOCK),
    ("UPDATE pg_catalog.pg_class SET relname = 'loot' WHERE relname = 'customers'", DPO, "system_catalog_write", Action.BLOCK),
    ("INSERT INTO lineage_jit.roles VALUES ('reporting', 'r', 'j', 'p', now(), now(), 'ended', NULL)", DEV, "jit_registry", Action.BLOCK),
    ("UPDATE lineage_jit.roles SET status = 'ended' WHERE role_name = 'x'", DEV, "jit_registry", Action.BLOCK),
    ("COPY (SELECT * FROM crm.orders) TO '/tmp/orders.csv'", DEV, "copy_out", Action.BLOCK),
    ("DO $$ BEGIN EXECUTE 'drop table crm.orders'; END $$", DEV, "opaque_statement", Action.BLOCK),
    ("PREPARE q AS SELECT * FROM crm.orders WHERE id = $1", DEV, "opaque_statement", Action.BLOCK),
    ("EXECUTE q(1)", DEV, "opaque_statement", Action.BLOCK),
    ("DECLARE c CURSOR FOR SELECT * FROM crm.orders", DEV, "opaque_statement", Action.BLOCK),
    ("SELECT query_to_xml('select * from crm.customers', true, true, '')", DEV, "opaque_statement", Action.BLOCK),
    ("SELECT query_to_xml(q.text, true, true, '') FROM crm.saved_queries q", DPO, "opaque_statement", Action.BLOCK),
    ("SELEC * FRM crm.orders", DEV, "unparseable", Action.BLOCK),
    ("SELECT * FROM crm.orders WHERE", DEV, "unparseable", Action.BLOCK),
    ("SELECT 'unterminated", DEV, "unparseable", Action.BLOCK),
    ("SELECT * FROM crm.customers", DPO, "select_star_on_classified", Action.WARN),
    ("INSERT INTO mart.contacts SELECT id, email FROM crm.customers", DPO, "pii_to_unapproved_zone", Action.BLOCK),
    ("CREATE VIEW mart.contacts_v AS SELECT id, lower(email) AS email FROM crm.customers", DPO, "pii_to_unapproved_zone", Action.BLOCK),
    ("SELECT crosstab('select 1')", DPO, "opaque_statement", Action.BLOCK),
    ("SELECT crm.normalize(name) FROM crm.orders", DPO, "opaque_statement", Action.BLOCK),
    ("SELECT id, current_query() FROM crm.customers", DEV, "masking_refused", Action.BLOCK),
    ("SELECT c.leak FROM crm.customers c", DEV, "masking_refused", Action.BLOCK),
    ("UPDATE crm.customers c SET age = age WHERE id = 1 RETURNING c.to_json", DEV, "masking_refused", Action.BLOCK),
    ("DELETE FROM crm.orders\x00 WHERE id = 1", DEV, "unsafe_text", Action.BLOCK),
    ('SELECT U&"\\0065mail" FROM crm.customers', DPO, "unsafe_text", Action.BLOCK),
    ("ALTER TABLE crm.customers RENAME COLUMN email TO contact", DEV, "masking_refused", Action.BLOCK),
]


@pytest.mark.parametrize("sql,identity,rule,action", CASES, ids=[case[0][:60] for case in CASES])
def test_rule_decides(engine, sql, identity, rule, action):
    decision = decide(engine, sql, identity)
    assert rule in rules_of(decision), decision.to_dict()
    assert decision.action == action, decision.to_dict()
    finding = next(f for f in decision.findings if f.rule == rule)
    assert finding.message


def test_every_rule_has_a_case_and_a_docstring_example():
    covered = {case[2] for case in CASES} | {"lineage_incomplete", "check_limits"}  # check_limits: test_hostile_input.py
    assert covered == set(RULES)
    for rule in RULES.values():
        module = __import__(rule.function.__module__, fromlist=["_"])
        assert module.__doc__ and "->" in module.__doc__, f"{rule.name} needs a docstring example"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, amount FROM crm.orders WHERE status = 'open'",
        "DELETE FROM crm.orders WHERE id = 7",
        "DELETE FROM crm.orders o WHERE EXISTS (SELECT 1 FROM crm.customers c WHERE c.id = o.customer_id AND c.city = 'Oslo')",
        "DELETE FROM crm.orders WHERE customer_id IN (SELECT id FROM crm.customers WHERE city = 'Oslo')",
        "DELETE FROM crm.orders WHERE 1 = 0",
        "UPDATE crm.orders SET status = 'shipped' WHERE id = 7",
        "INSERT INTO staging.contacts SELECT id, email FROM crm.customers",
        "CREATE TABLE mart.order_totals AS SELECT customer_id, sum(amount) AS total FROM crm.orders GROUP BY 1",
        "BEGIN",
        "COMMIT",
        "COPY crm.orders FROM STDIN",  # a file is file_read (tests/decide/test_copy_files.py)
        "VACUUM crm.orders",
        "ALTER TABLE crm.customers ADD COLUMN tier int NOT NULL DEFAULT 0",
        "ALTER TABLE crm.customers ADD COLUMN note text",
        "SET search_path = crm, public",
        "SET search_path TO DEFAULT",
        "SHOW search_path",
        "SET LOCAL work_mem = '64MB'",
        "SET TIME ZONE 'UTC'",
        "SELECT set_config('statement_timeout', '5s', false)",
        "SET row_security = on",
        "MERGE INTO crm.orders t USING staging.orders s ON t.id = s.id WHEN MATCHED THEN DELETE",
    ],
)
def test_harmless_statements_run(engine, sql):
    decision = decide(engine, sql, DPO)
    assert decision.action in (Action.ALLOW, Action.WARN), decision.to_dict()
    assert decision.may_run


def test_the_policy_allows_more_settings_but_never_role_safety_or_lexing_ones(catalog):
    policy = load_policy_text("session_settings:\n  allowed: [jit_provider, \"myext.*\"]\n")
    engine = Engine(policy, catalog)
    assert decide(engine, "SET jit_provider = 'llvmjit'").action == Action.ALLOW
    assert decide(engine, "SELECT set_config('myext.level', '3', true)").action == Action.ALLOW
    assert decide(engine, "SET other_ext.level = 3").action == Action.BLOCK
    for name in ("row_security", "role", "standard_conforming_strings", "log_statement"):
        with pytest.raises(PolicyError, match="is judged by the"):
            load_policy_text(f"session_settings:\n  allowed: [{name}]\n")
    with pytest.raises(PolicyError, match="cannot be lowered"):
        load_policy_text("guardrails:\n  - {rule: lexing_setting, action: allow}\n")


def test_drop_table_allowed_outside_the_environments_its_entry_names(engine):
    # the policy lists drop_table for prod only: listing a rule takes it over
    assert decide(engine, "DROP TABLE crm.orders", PROD).action == Action.BLOCK
    dev = decide(engine, "DROP TABLE crm.orders", DEV)
    assert dev.action == Action.ALLOW
    assert rules_of(dev) == ["drop_table"]  # still recorded


def test_rule_action_per_table_glob_and_environment(catalog):
    policy = load_policy_text(
        """
guardrails:
  - {rule: truncate, action: allow, tables: ["staging.*"]}
  - {rule: truncate, action: require_approval, environments: [dev]}
  - {rule: truncate, action: block}
"""
    )
    engine = Engine(policy, catalog)
    assert decide(engine, "TRUNCATE staging.contacts", PROD).action == Action.ALLOW
    assert decide(engine, "TRUNCATE crm.orders", DEV).action == Action.REQUIRE_APPROVAL
    assert decide(engine, "TRUNCATE crm.orders", PROD).action == Action.BLOCK


def test_strictest_finding_wins(engine):
    decision = decide(engine, "ALTER TABLE crm.customers DROP COLUMN email, ALTER COLUMN age TYPE bigint", DEV)
    assert decision.action == Action.REQUIRE_APPROVAL
    assert {f.rule: f.action for f in decision.findings} == {
        "drop_column": Action.REQUIRE_APPROVAL,
        "alter_column_type": Action.WARN,
    }


def test_audit_mode_records_but_passes_original_sql(catalog):
    policy = load_policy_text("mode: audit\n")
    engine = Engine(policy, catalog)
    decision = decide(engine, "DROP TABLE crm.orders", PROD)
    assert decision.action == Action.BLOCK
    assert decision.effective_action == Action.ALLOW
    assert decision.sql == "DROP TABLE crm.orders"
    assert decision.mode == "audit"


def test_unparseable_never_allows_even_without_policy(catalog):
    engine = Engine(None, catalog)
    for sql in ["SELEC 1", "SELECT (", "LISTEN x", "DELETE FROM"]:
        decision = decide(engine, sql)
        assert decision.action == Action.BLOCK, sql
        assert not decision.may_run
