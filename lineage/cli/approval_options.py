"""``--approvals URL`` and ``--approval ID`` for commands that run statements (``exec``, ``jit run``).

A statement the policy holds for approval gets a request in the approvals store and the command
exits 3 with its id; once an approver signed it, running the command again with
``--approval ID`` continues the run that asked (with ``approvals.scope: run``, an approval covers
only that run), and the worker verifies the signature before the statement runs.
"""

from __future__ import annotations

import argparse
import sys

from lineage.cli import UsageError
from lineage.identity.run_identity import RunIdentity
from lineage.locations import without_password


def add_approval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--approvals", metavar="URL", help="approvals store (default: $LINEAGE_APPROVALS_URL, else next to the ledger, else sqlite:///.lineage/approvals.db)")
    parser.add_argument("--approval", action="append", default=[], metavar="ID",
                        help="an approval granted to an earlier run of this job: continue that run (repeatable)")


def open_approvals(policy, args: argparse.Namespace, ledger, identity: RunIdentity):
    """(the governor's approvals collaborator, the identity of the run, continued when --approval says so)."""
    from lineage.approve.approvals import ApprovalError, default_url
    from lineage.approve.service import open_approvals as open_service

    url = args.approvals or default_url(getattr(args, "ledger", None))
    try:
        approvals = open_service(policy, url, ledger=ledger)
    except ApprovalError as error:
        raise UsageError(str(error)) from None
    except Exception as error:  # an unreachable PostgreSQL store, an unwritable file
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UsageError(f"approvals store {without_password(url)}: {type(error).__name__}: {first}") from None
    identity, notes = approvals.continuing(identity, args.approval)
    for note in notes:
        print(f"lineage: {note}", file=sys.stderr)
    return approvals, identity


def held_hint(request_id: str | None) -> str:
    if not request_id:
        return ""
    return f"lineage: once approved (`lineage approvals approve {request_id} --key FILE`), run the same command again with --approval {request_id}"
