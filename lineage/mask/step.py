"""The engine's masking step: ``lineage.mask.rewrite.mask_statement``, loaded once a column is classified.

With nothing classified (no ``classifications`` in the policy, no dbt column ``meta``) no identity
reads anything masked: the rewrite's planner finds nothing to mask (``MaskPlanner.masks_anything``)
and the rewrite answers at once, nothing masked and nothing refused. Here that answer comes without
loading the rewrite, its planner and the strategies, which a check of SQL under the default policy
(``lineage check`` without a file) would otherwise import for nothing.

    >>> from types import SimpleNamespace
    >>> mask_statement(None, SimpleNamespace(classifier=SimpleNamespace(entries=())))
    MaskResult(sql=None, masked_columns=(), findings=())
"""

from __future__ import annotations

from lineage.model import MaskResult, StatementFacts

NOTHING = MaskResult(sql=None)


def mask_statement(facts: StatementFacts, context, owned: bool = False) -> MaskResult:
    """The masked SQL for this identity (or None when nothing changes), what was masked, and refusals
    (``owned``: as for the rewrite, nothing reads ``facts.statement`` after this call)."""
    if not context.classifier.entries:
        return NOTHING
    from lineage.mask.rewrite import mask_statement as rewrite

    return rewrite(facts, context, owned=owned)


def masks_for(context, dialect: str) -> bool:
    """Whether the identity of ``context`` reads some classified data masked (``lineage.mask.plan.masks_for``)."""
    if not context.classifier.entries:
        return False
    from lineage.mask.plan import masks_for as planned

    return planned(context, dialect)
