"""What the macros need for one run, handed to dbt as JSON in ``LINEAGE_DBT_PLAN``.

    {"mode": "run",
     "relations": {"shop.raw.raw_customers": {"masks": {"email": {"strategy": "email", "args": {}, "tag": "pii.email"}},
                                                  "columns": ["id", "email", ...]}},
     "keys": {"hash|pii.ssn": ["<inner pad hex>", "<outer pad hex>"]},
     "custom": {"left(value, 1) || '.'": "CASE WHEN __lineage_value__ IS NULL THEN NULL ELSE LEFT(...) END"},
     "approved": {"model.shop.stg_customers": "apr-3f2a..."},
     "usage": {"model.shop.stg_customers": {"city": ["model.shop.dim_customers (city)", ...]}}}

Keys: a keyed strategy's key for one tag is derived from the policy's master key here
(``lineage.mask.keys.derive_key``) and only its two HMAC pads go to dbt, exactly what the
core puts into the SQL it runs. The master key never reaches dbt, its compiled SQL or logs.
The plan is passed in the environment, not in ``--vars`` (which dbt logs and writes to
``run_results.json``); the SQL dbt compiles, like any masked SQL, contains the pads.
"""

from __future__ import annotations

import json
from typing import Mapping

from sqlglot import exp

from lineage.adapters.dbt.preflight import PreflightReport
from lineage.mask.keys import KeyUnavailable
from lineage.mask.plan import ColumnMask, MaskPlanner
from lineage.mask.strategies import KEYED, mask_expression
from lineage.mask.strategies._keyed import padded_keys
from lineage.decide.names import tag_matches

ENV_VAR = "LINEAGE_DBT_PLAN"
PLACEHOLDER = "__lineage_value__"


class PlanError(Exception):
    """A mask the macros would need but cannot have (no key, a strategy without SQL): refuse the run."""


def analysis_plan() -> str:
    return json.dumps({"mode": "analysis"})


def macro_plan(
    report: PreflightReport,
    planner: MaskPlanner,
    dialect: str,
    approved: Mapping[str, str] | None = None,
    columns: Mapping[str, list[str]] | None = None,
) -> dict:
    """The plan for the run the report cleared, keyed by lower-case ``database.schema.identifier``."""
    relations: dict[str, dict] = {}
    keys: dict[str, list[str]] = {}
    custom: dict[str, str] = {}
    audit = report.mode == "audit"  # decide and record, never rewrite: the governed reads stay as written
    for relation, masks in sorted(report.masks.items()):
        # every relation read through the governed macros is listed, masked or not: one the
        # pre-flight did not see is refused at run time (fail closed)
        if audit:
            masks = {}
        relations[relation.lower()] = {
            "masks": {column: _mask_json(mask) for column, mask in sorted(masks.items())},
            "columns": list((columns or {}).get(relation.lower()) or []),
        }
        for mask in masks.values():
            if mask.strategy in KEYED:
                keys[f"{mask.strategy}|{mask.key_tag}"] = list(_pads(planner, mask, relation))
            elif mask.strategy == "custom":
                expression = mask.args["expression"]
                custom[expression] = mask_expression("custom", exp.column(PLACEHOLDER), None, dialect, mask.args).sql(dialect)
    for strategy, tag in sorted(report.mask_calls):
        if strategy in KEYED and tag and f"{strategy}|{tag}" not in keys:
            # a key only where the policy masks the tag this way: mask() cannot borrow another tag's key
            if policy_strategy(planner.masking, tag) == strategy:
                mask = ColumnMask("", (tag,), strategy, {}, tag)
                keys[f"{strategy}|{tag}"] = list(_pads(planner, mask, f"mask(..., '{strategy}', tag='{tag}')"))
    return {
        "mode": "run",
        "relations": relations,
        "keys": keys,
        "custom": custom,
        "approved": dict(approved or {}),
        "usage": report.usage,
    }


def policy_strategy(masking, tag: str) -> str:
    """The strategy the policy's masking rules give a tag, whoever reads it (deny wins, then order)."""
    for rule in masking.rules:
        if rule.strategy == "deny" and any(tag_matches(pattern, tag) for pattern in rule.tags):
            return "deny"
    for rule in masking.rules:
        if any(tag_matches(pattern, tag) for pattern in rule.tags):
            return rule.strategy
    return masking.default_strategy


def _pads(planner: MaskPlanner, mask: ColumnMask, where: str) -> tuple[str, str]:
    try:
        return padded_keys(planner.derived_key(mask))
    except KeyUnavailable as error:
        raise PlanError(f"{where}: {mask.strategy} masks {mask.key_tag}, but there is no usable key: {error}") from None


def _mask_json(mask: ColumnMask) -> dict:
    return {"strategy": mask.strategy, "args": dict(mask.args), "tag": mask.key_tag, "tags": list(mask.tags)}
