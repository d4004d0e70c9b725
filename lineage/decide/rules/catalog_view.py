"""catalog_view: a view over the system catalogs reads them with its owner's rights, for whoever selects from it.

    CREATE VIEW mart.pw AS SELECT rolname, rolpassword FROM pg_catalog.pg_authid
    -> catalog_view (block): view mart.pw reads pg_catalog.pg_authid: ...

Unqualified ``pg_*`` names count: PostgreSQL searches ``pg_catalog`` before the path's schemas.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext
from lineage.decide.analysis.kinds import VIEWS



def catalog_relations(facts: StatementFacts) -> list[str]:
    """The system relations a statement reads: pg_catalog/information_schema, or any pg_* name."""
    relations = list(facts.system_reads)
    relations += [name for name in facts.reads if name.split(".")[-1].lower().startswith("pg_")]
    return relations


def catalog_view(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    if facts.kind not in VIEWS:
        return
    relations = catalog_relations(facts)
    if relations:
        target = facts.writes[0] if facts.writes else "the view"
        yield Finding(
            "catalog_view",
            f"view {target} reads {', '.join(relations)}: a view reads with its owner's rights, so it would show "
            "these system catalogs to whoever may select from it (pg_authid holds password hashes)",
            facts.writes[0] if facts.writes else None,
        )
