"""The approvals service as every runner of statements opens it (``lineage exec``, ``lineage dbt``,
the Airflow plugin): the store named by URL, else the one next to the ledger, and the notifier the
policy configures. A notifier that cannot be built announces nothing; requests are still kept.

    open_approvals(policy, ledger=ledger, ledger_url="sqlite:///runs/ledger.db")
    -> Approvals over sqlite:///runs/approvals.db, announcing on the policy's webhook
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from lineage.approve.approvals import Approvals, ApprovalStore, default_url
from lineage.approve.notify import notifier_from_policy

log = logging.getLogger(__name__)

FROM_POLICY: Any = object()


def open_approvals(policy, url: str | None = None, ledger: Any = None, ledger_url: str | None = None,
                   notifier: Any = FROM_POLICY, resolve_url: Callable[[str], str | None] | None = None) -> Approvals:
    """``url``: the store (default ``$LINEAGE_APPROVALS_URL``, else next to ``ledger_url``); raises
    what ``ApprovalStore`` raises for an unusable one. ``notifier``: the policy's unless given."""
    store = ApprovalStore(url or default_url(ledger_url))
    if notifier is FROM_POLICY:
        try:
            notifier = notifier_from_policy(policy, resolve_url=resolve_url)
        except Exception as error:
            log.warning("lineage-governance: approval requests are not announced: %s", error)
            notifier = None
    return Approvals(policy, store, ledger=ledger, notifier=notifier)
