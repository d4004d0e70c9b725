"""What guardrail rules exist: name, default action, summary, and the floor a policy may not lower
them below. The policy model validates against this table; ``rules/`` adds each rule's function.

    >>> RULE_SPECS["truncate"].default
    <Action.BLOCK: 'block'>
"""

from __future__ import annotations

from dataclasses import dataclass

from lineage.model import Action


@dataclass(frozen=True)
class RuleSpec:
    name: str
    default: Action
    summary: str
    floor: Action | None = None
    reported_by_masker: bool = False


RULE_SPECS: dict[str, RuleSpec] = {
    spec.name: spec
    for spec in (
        RuleSpec("drop_table", Action.BLOCK, "DROP TABLE / VIEW / MATERIALIZED VIEW / SCHEMA / DATABASE, DROP OWNED"),
        RuleSpec("drop_object", Action.REQUIRE_APPROVAL, "DROP of any other kind: TYPE, DOMAIN, FUNCTION, SEQUENCE, INDEX, EXTENSION, ..."),
        RuleSpec("drop_cascade", Action.BLOCK, "DROP ... CASCADE: dependents the catalog cannot list go too"),
        RuleSpec("truncate", Action.BLOCK, "TRUNCATE"),
        RuleSpec("replace_table", Action.BLOCK, "CREATE OR REPLACE TABLE over an existing (or classified) table: a DROP TABLE and a CREATE"),
        RuleSpec("drop_column", Action.REQUIRE_APPROVAL, "a column is dropped (ALTER ... DROP COLUMN, CREATE OR REPLACE without it)"),
        RuleSpec("alter_column_type", Action.REQUIRE_APPROVAL, "a column's type changes (narrowing; widening only warns)"),
        RuleSpec("rewrite_column", Action.BLOCK, "ALTER COLUMN ... TYPE ... USING an expression other than the column cast to the new type: new values for every row"),
        RuleSpec("rename", Action.REQUIRE_APPROVAL, "a table or column is renamed"),
        RuleSpec("add_not_null_without_default", Action.REQUIRE_APPROVAL, "NOT NULL column added without a default, or SET NOT NULL"),
        RuleSpec("delete_without_where", Action.BLOCK, "DELETE (or MERGE ... DELETE) whose condition filters nothing"),
        RuleSpec("update_without_where", Action.BLOCK, "UPDATE (or MERGE ... UPDATE) whose condition filters nothing"),
        RuleSpec("privilege_change", Action.REQUIRE_APPROVAL, "GRANT / REVOKE / roles, changing the role (WITH GRANT OPTION or TO PUBLIC: block)"),
        RuleSpec("disable_safety", Action.BLOCK, "triggers, row-level security, its policies or the statement log switched off"),
        RuleSpec("session_setting", Action.BLOCK, "a setting not on the list of harmless settings (policy: session_settings.allowed)"),
        RuleSpec("lexing_setting", Action.BLOCK, "a setting that changes how the server reads SQL text, or one the analysis cannot name",
             floor=Action.BLOCK),
        RuleSpec("system_catalog_write", Action.BLOCK, "DML or DDL on the system catalogs (pg_catalog, information_schema, any pg_* name, DuckDB's system)",
                 floor=Action.BLOCK),
        RuleSpec("catalog_view", Action.BLOCK, "CREATE VIEW over system catalogs (pg_authid, ...): the view reads them with its owner's rights"),
        RuleSpec("jit_registry", Action.BLOCK, "a statement reads or writes the JIT registry (lineage_jit)", floor=Action.BLOCK),
        RuleSpec("copy_out", Action.BLOCK, "COPY ... TO a file or program, EXPORT DATA, UNLOAD"),
        RuleSpec("copy_program", Action.BLOCK, "COPY ... FROM/TO PROGRAM: a shell command on the database server", floor=Action.BLOCK),
        RuleSpec("file_read", Action.BLOCK, "COPY ... FROM a file, DuckDB's FROM 'data.csv': files off allowlist.files, the masking key file always",
                 floor=Action.BLOCK),
        RuleSpec("opaque_statement", Action.BLOCK, "SQL whose effect cannot be analysed (DO, PREPARE/EXECUTE, cursors, functions off the allowlist)"),
        RuleSpec("unparseable", Action.BLOCK, "SQL the parser cannot read"),
        RuleSpec("unsafe_text", Action.BLOCK, "text the database would read differently from the analysis (NUL, control characters, U&\"...\" escapes)",
             floor=Action.BLOCK),
        RuleSpec("select_star_on_classified", Action.WARN, "SELECT * over a table with classified columns"),
        RuleSpec("pii_to_unapproved_zone", Action.BLOCK, "raw classified values written outside their tag's zones"),
        RuleSpec("masked_overwrite", Action.BLOCK, "an UPDATE (upsert, MERGE) storing values this identity reads masked into classified columns"),
        RuleSpec("masking_refused", Action.BLOCK, "masking cannot prove the statement safe for this identity (functions off the allowlist, opaque SQL, deny columns, ...)",
             floor=Action.BLOCK, reported_by_masker=True),
        RuleSpec("lineage_incomplete", Action.ALLOW, "column lineage incomplete (time budget, unknown columns); recorded only"),
        RuleSpec("check_limits", Action.BLOCK, "SQL over the policy's size limit, or whose check ran out of time (policy limits)",
             floor=Action.BLOCK),
    )
}
