"""pii_to_unapproved_zone: raw classified values written outside the zones their tag allows.

    zones: [{tags: ["pii.*"], allowed: ["raw.*", "staging.*"]}]
    INSERT INTO mart.contacts SELECT email FROM crm.customers     (by an identity exempt from masking)
    -> pii_to_unapproved_zone (block): writes raw crm.customers.email (pii.email) into mart.contacts.email,
       outside zones[0] (pii.* may be written to raw.*, staging.*)

Values masked for this identity are not raw (the masking step rewrites them), so only
identities that read the tag raw (``unmasked_for``) can trigger it. A view created over a
protected table counts as a write of what it exposes (its columns' lineage). When the column
lineage of a write is incomplete, raw classified columns it reads may reach any target
column, so a write outside the zone is a finding too (fail closed).
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.classify import zone_breach
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def pii_to_unapproved_zone(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if not facts.writes or not context.policy.zones:
        return
    zones = context.policy.zones
    for target_column, sources in facts.lineage.edges.items():
        target_table, _, column = target_column.rpartition(".")
        if not target_table:
            continue
        for source in sorted(sources):
            source_table, _, source_column = source.rpartition(".")
            for tag in context.classifier.tags(source_table, source_column):
                if not context.sees_raw(tag):
                    continue  # the masking step masks it for this identity
                breach = zone_breach(zones, tag, target_table)
                if breach:
                    yield Finding(
                        "pii_to_unapproved_zone",
                        f"writes raw {source} ({tag}) into {target_column}, outside {breach.where}",
                        target_table,
                        detail={"source": source, "target": target_column, "tag": tag,
                                "zones": list(breach.zones), "allowed": list(breach.allowed)},
                    )
    if facts.lineage_complete:
        return
    for table in facts.reads:
        for column, tags in context.classifier.classified_columns(table, context.catalog).items():
            for tag in tags:
                if not context.sees_raw(tag):
                    continue
                for target in facts.writes:
                    breach = zone_breach(zones, tag, target)
                    if breach:
                        yield Finding(
                            "pii_to_unapproved_zone",
                            f"writes into {target} from {table}, whose {column} ({tag}) it reads raw, and its column lineage is "
                            f"incomplete, so it cannot prove the value stays out; outside {breach.where}",
                            target,
                            detail={"source": f"{table}.{column}", "target": target, "tag": tag, "lineage_complete": False,
                                    "zones": list(breach.zones)},
                        )
