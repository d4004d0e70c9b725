"""``lineage approvals list|show|approve|deny``: people decide on held statements."""

from __future__ import annotations

import argparse
import json

from lineage.approvals import ApprovalError, Approvals, ApprovalStore
from lineage.cli import EXIT_BLOCKED, UsageError
from lineage.cli.common import add_identity_options, add_policy_option, identity_from_args, load_policy_arg


def register(subparsers) -> None:
    approvals = subparsers.add_parser("approvals", help="list, approve or deny approval requests")
    commands = approvals.add_subparsers(dest="approvals_command", metavar="SUBCOMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="approval requests (default: pending)")
    listing.add_argument("--status", default="pending", choices=("pending", "approved", "denied", "expired", "all"))
    listing.add_argument("--format", choices=("table", "json"), default="table")
    show = commands.add_parser("show", help="one request in full (JSON)")
    show.add_argument("id")
    for name in ("approve", "deny"):
        command = commands.add_parser(name, help=f"{name} a pending request (you must be an approver named in the policy)")
        command.add_argument("id")
        command.add_argument("--note", help="why (recorded in the ledger)")
        add_identity_options(command)
        command.set_defaults(handler=run_decide, verdict=name)
    for command in (listing, show):
        command.set_defaults(handler=run_list if command is listing else run_show)
    for command in (listing, show, *[commands.choices["approve"], commands.choices["deny"]]):
        add_policy_option(command)
        command.add_argument("--approvals", metavar="URL", help="approvals store (default: $LINEAGE_APPROVALS_URL, else next to the ledger, else sqlite:///.lineage/approvals.db)")
        command.add_argument("--ledger", metavar="URL", help="ledger to record each step in (default: $LINEAGE_LEDGER_URL)")


def _approvals(args: argparse.Namespace) -> Approvals:
    policy = load_policy_arg(args.policy)
    try:
        store = ApprovalStore(args.approvals)
    except ApprovalError as error:
        raise UsageError(str(error)) from None
    return Approvals(policy, store, ledger=_ledger(args))


def _ledger(args: argparse.Namespace):
    from lineage.ledger import open_ledger

    return open_ledger(args.ledger)


def run_list(args: argparse.Namespace) -> int:
    approvals = _approvals(args)
    approvals.expire()
    requests = approvals.store.list(None if args.status == "all" else args.status)
    if args.format == "json":
        print(json.dumps([request.to_dict() for request in requests], indent=2))
        return 0
    if not requests:
        print(f"no {args.status if args.status != 'all' else ''} approval requests".replace("  ", " "))
        return 0
    for request in requests:
        reasons = "; ".join(reason["rule"] for reason in request.reasons)
        print(f"{request.id}  {request.status:<8}  {request.job_namespace}/{request.job_name}  by {request.requester}  "
              f"expires {request.expires_at}  [{reasons}]\n    {request.normalized_sql[:160]}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    try:
        request = _approvals(args).status(args.id)
    except ApprovalError as error:
        raise UsageError(str(error)) from None
    print(json.dumps(request.to_dict(), indent=2))
    return 0


def run_decide(args: argparse.Namespace) -> int:
    from lineage.principal import groups_of

    approvals = _approvals(args)
    approver = identity_from_args(args)
    # the policy's identity.groups add memberships (as for pipeline principals)
    extra = groups_of(approvals.policy.policy.identity, approver.principal)
    if extra:
        approver = approver.with_(groups=tuple(sorted(set(approver.groups) | set(extra))))
    try:
        request = approvals.approve(args.id, approver, args.note) if args.verdict == "approve" else approvals.deny(args.id, approver, args.note)
    except ApprovalError as error:
        print(f"lineage: {error}")
        return EXIT_BLOCKED
    print(f"{request.id}: {request.status} by {request.decided_by}" + (f" (valid until {request.valid_until})" if request.valid_until else ""))
    return 0
