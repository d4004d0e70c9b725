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

from lineage.model import Finding, StatementFacts
from lineage.names import table_matches, tag_matches
from lineage.rules.context import RuleContext


def _governing(zones, tag: str) -> list[tuple[int, object]]:
    return [(index, zone) for index, zone in enumerate(zones) if any(tag_matches(pattern, tag) for pattern in zone.tags)]


def _outside(zones, tag: str, table: str) -> list[tuple[int, object]] | None:
    """The zones governing ``tag`` when ``table`` is in none of them; None when allowed or ungoverned."""
    governing = _governing(zones, tag)
    if not governing or any(table_matches(glob, table) for _, zone in governing for glob in zone.allowed):
        return None
    return governing


def _describe(governing) -> str:
    return "; ".join(f"zones[{index}]: {', '.join(zone.tags)} may be written to {', '.join(zone.allowed) or 'nowhere'}" for index, zone in governing)


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
                governing = _outside(zones, tag, target_table)
                if governing:
                    yield Finding(
                        "pii_to_unapproved_zone",
                        f"writes raw {source} ({tag}) into {target_column}, outside {_describe(governing)}",
                        target_table,
                        detail={"source": source, "target": target_column, "tag": tag,
                                "zones": [index for index, _ in governing],
                                "allowed": [glob for _, zone in governing for glob in zone.allowed]},
                    )
    if facts.lineage_complete:
        return
    for table in facts.reads:
        for column, tags in context.classifier.classified_columns(table, context.catalog).items():
            for tag in tags:
                if not context.sees_raw(tag):
                    continue
                for target in facts.writes:
                    governing = _outside(zones, tag, target)
                    if governing:
                        yield Finding(
                            "pii_to_unapproved_zone",
                            f"writes into {target} from {table}, whose {column} ({tag}) it reads raw, and its column lineage is "
                            f"incomplete, so it cannot prove the value stays out; outside {_describe(governing)}",
                            target,
                            detail={"source": f"{table}.{column}", "target": target, "tag": tag, "lineage_complete": False,
                                    "zones": [index for index, _ in governing]},
                        )
