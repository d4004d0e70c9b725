"""The facts of GRANT and REVOKE: which privileges on what to whom, for the privilege rules.

    GRANT SELECT ON crm.customers TO PUBLIC -> {"statement": "grant", "to_public": True, ...}
"""

from __future__ import annotations

from sqlglot import exp
from lineage.decide.analysis.kinds import Kind


class GrantFacts:
    """The GRANT/REVOKE part of the statement analyzer (``lineage.decide.analysis.facts``)."""

    def _grant(self, tree: exp.Expression) -> None:
        self.facts.kind = Kind.GRANT if isinstance(tree, exp.Grant) else Kind.REVOKE
        principals = [principal.name for principal in tree.args.get("principals") or []]
        securable = tree.args.get("securable")
        privileges = [privilege.sql(self.dialect) for privilege in tree.args.get("privileges") or []]
        self.facts.privileges = (
            {
                "statement": self.facts.kind,
                "privileges": privileges,
                "object": securable.sql(self.dialect) if securable is not None else None,
                "principals": principals,
                "grant_option": bool(tree.args.get("grant_option")),
                "to_public": any(p.lower() == "public" for p in principals),
            },
        )
