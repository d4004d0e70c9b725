"""pii_to_unapproved_zone: raw classified values written outside the zones their tag allows.

    zones: [{tags: ["pii.*"], allowed: ["raw.*", "staging.*"]}]
    INSERT INTO mart.contacts SELECT email FROM crm.customers     (by an identity exempt from masking)
    -> pii_to_unapproved_zone (block): writes raw crm.customers.email (pii.email) into mart.contacts.email,
       outside the zones allowed for pii.* (raw.*, staging.*)

Values masked for this identity are not raw, so only identities that read the tag raw
(``unmasked_for``) can trigger it. A view over a protected table counts as a write of what
it exposes.
"""

from __future__ import annotations

from typing import Iterator

from lineage.classify import zone_allows
from lineage.model import Finding, StatementFacts
from lineage.names import tag_matches
from lineage.rules.context import RuleContext


def pii_to_unapproved_zone(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if not facts.writes or not context.policy.zones:
        return
    for target_column, sources in facts.lineage.edges.items():
        target_table, _, column = target_column.rpartition(".")
        if not target_table:
            continue
        for source in sorted(sources):
            source_table, _, source_column = source.rpartition(".")
            for tag in context.classifier.tags(source_table, source_column):
                if not context.sees_raw(tag):
                    continue  # the masking step masks it for this identity
                allowed = zone_allows(context.policy.zones, tag, target_table)
                if allowed is False:
                    globs = [glob for zone in context.policy.zones if any(tag_matches(p, tag) for p in zone.tags) for glob in zone.allowed]
                    yield Finding(
                        "pii_to_unapproved_zone",
                        f"writes raw {source} ({tag}) into {target_column}, outside the zones allowed for {tag} ({', '.join(globs)})",
                        target_table,
                        detail={"source": source, "target": target_column, "tag": tag, "allowed": globs},
                    )
