"""The accountable principal of a pipeline run, from the policy's ``identity`` section.

    identity:
      principals:
        - {run_types: [manual], principal: "{triggering_user}"}
        - {jobs: ["finance_*"], principal: "svc:finance-etl"}
        - {principal: "{owner}"}
      groups:
        - {principal: "svc:*", groups: [etl]}

    accountable_principal(policy.identity, {"triggering_user": "alice", "owner": "data-eng"},
                          run_type="manual", job="daily_sales")  ->  ("alice", "identity.principals[0]")

Entries are tried in order; an entry applies when its conditions match and every field its
template names is known (a scheduled run has no triggering user, so ``{triggering_user}``
passes to the next entry). After the policy's entries come the defaults: manual runs ->
``{triggering_user}``, any run -> ``{owner}``. A run nobody can be named for is ``unknown``,
never an empty principal.
"""

from __future__ import annotations

from typing import Mapping

from lineage.identity.canonical import principal_matches
from lineage.decide.names import glob_match
from lineage.policy.model import Identity, PrincipalRule, template_fields

DEFAULT_RULES = (
    PrincipalRule(run_types=["manual"], principal="{triggering_user}"),
    PrincipalRule(principal="{owner}"),
)


def accountable_principal(identity: Identity, values: Mapping[str, str | None], run_type: str | None, job: str | None) -> tuple[str, str]:
    """``(principal, which entry decided)``; ``values`` holds the template fields known for the run."""
    rules = [(f"identity.principals[{index}]", rule) for index, rule in enumerate(identity.principals)]
    rules += [(f"default[{index}]", rule) for index, rule in enumerate(DEFAULT_RULES)]
    for where, rule in rules:
        if rule.run_types is not None and (run_type or "") not in rule.run_types:
            continue
        if rule.jobs is not None and not (job and any(glob_match(pattern, job) for pattern in rule.jobs)):
            continue
        fields = template_fields(rule.principal)
        if any(not values.get(field) for field in fields):
            continue
        principal = rule.principal.format(**{field: values[field] for field in fields}).strip()
        if principal:
            return principal, where
    return "unknown", "none matched"


def groups_of(identity: Identity, principal: str) -> tuple[str, ...]:
    """The groups the policy gives a principal (sorted, without duplicates)."""
    groups = {group for membership in identity.groups if principal_matches(membership.principal, principal) for group in membership.groups}
    return tuple(sorted(groups))
