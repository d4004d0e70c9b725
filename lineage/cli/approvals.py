"""``lineage approvals list|show|approve|deny|keygen``: people decide on held statements.

An approver signs with their own Ed25519 key: ``lineage approvals keygen --out ~/.lineage/olga.key``
writes the private key and prints the public key for the policy's ``approvals.keys``; then
``lineage approvals approve ID --key ~/.lineage/olga.key`` (or ``$LINEAGE_APPROVER_KEY``). Who
approves is the key's principal in the policy, and their groups are the policy's
``identity.groups``: ``--principal`` and ``--group`` are not taken at their word.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from lineage.approve.approvals import ApprovalError, Approvals, ApprovalStore, default_url
from lineage.cli import EXIT_BLOCKED, UsageError, summary
from lineage.cli.common import add_policy_option, load_policy_arg


def register(subparsers) -> None:
    approvals = subparsers.add_parser("approvals", help=summary("approvals"))
    commands = approvals.add_subparsers(dest="approvals_command", metavar="SUBCOMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="approval requests (default: pending)")
    listing.add_argument("--status", default="pending", choices=("pending", "approved", "denied", "expired", "all"))
    listing.add_argument("--format", choices=("table", "json"), default="table")
    show = commands.add_parser("show", help="one request in full (JSON)")
    show.add_argument("id")
    for name in ("approve", "deny"):
        command = commands.add_parser(name, help=f"{name} a pending request, signed with your key (you must be an approver named in the policy)")
        command.add_argument("id")
        command.add_argument("--note", help="why (recorded in the ledger)")
        command.add_argument("--key", metavar="FILE", default=os.environ.get("LINEAGE_APPROVER_KEY"),
                             help="your Ed25519 private key (default: $LINEAGE_APPROVER_KEY); its public key is in the policy's approvals.keys")
        command.add_argument("--principal", help="optional: who you are; must be the key's principal in the policy")
        command.add_argument("--group", action="append", help=argparse.SUPPRESS)
        command.set_defaults(handler=run_decide, verdict=name)
    keygen = commands.add_parser("keygen", help="create an Ed25519 key pair for an approver (or the UI); prints the policy entry")
    keygen.add_argument("--out", metavar="FILE", required=True, help="where to write the private key (created with mode 0600; never overwritten)")
    owner = keygen.add_mutually_exclusive_group(required=True)
    owner.add_argument("--principal", help="the approver the key belongs to, as the policy names them (approvals.keys)")
    owner.add_argument("--server", metavar="NAME", help="a server that signs for its logged-in users, e.g. airflow-ui (approvals.server_keys)")
    keygen.set_defaults(handler=run_keygen)
    for command in (listing, show):
        command.set_defaults(handler=run_list if command is listing else run_show)
    for command in (listing, show, *[commands.choices["approve"], commands.choices["deny"]]):
        add_policy_option(command)
        command.add_argument("--approvals", metavar="URL", help="approvals store (default: $LINEAGE_APPROVALS_URL, else next to the ledger (--ledger), else sqlite:///.lineage/approvals.db)")
        command.add_argument("--ledger", metavar="URL", help="ledger to record each step in (default: $LINEAGE_LEDGER_URL)")


def _approvals(args: argparse.Namespace) -> Approvals:
    policy = load_policy_arg(args.policy)
    try:
        store = ApprovalStore(args.approvals or default_url(args.ledger))
    except ApprovalError as error:
        raise UsageError(str(error)) from None
    return Approvals(policy, store, ledger=_ledger(args))


def _ledger(args: argparse.Namespace):
    from lineage.record import open_ledger

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
        print(f"{request.id}  {request.status:<8}  {request.job_namespace}/{request.job_name}  run {request.run_id}  by {request.requester}  "
              f"in {request.environment}  expires {request.expires_at}  [{reasons}]\n    {request.shown_statement}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    try:
        request = _approvals(args).status(args.id)
    except ApprovalError as error:
        raise UsageError(str(error)) from None
    print(json.dumps(request.to_dict(), indent=2))
    return 0


def run_decide(args: argparse.Namespace) -> int:
    from lineage.approve.keys import ApprovalKeyError, load_private
    from lineage.approve.verify import Rejected, signer_for

    if args.group:  # and $LINEAGE_GROUPS is not read here either
        raise UsageError("lineage approvals: an approver's groups come from the policy's identity.groups, not from --group")
    if not args.key:
        raise UsageError(f"lineage approvals {args.verdict}: give --key FILE (your Ed25519 private key; `lineage approvals keygen` makes one)")
    approvals = _approvals(args)
    try:
        signer = signer_for(approvals.policy.policy.approvals, load_private(args.key), user=args.principal)
    except (ApprovalKeyError, Rejected) as error:
        raise UsageError(f"{args.key}: {error}") from None
    if signer.kind != "approver":
        raise UsageError(f"{args.key}: this is the server key {signer.name!r}; approvers sign with their own key")
    try:
        request = approvals.status(args.id)
        print(f"{request.id}: {request.job_namespace}/{request.job_name} run {request.run_id}, asked by {request.requester} in {request.environment}")
        print(f"    {request.shown_statement}")
        request = approvals.approve(args.id, signer, args.note) if args.verdict == "approve" else approvals.deny(args.id, signer, args.note)
    except ApprovalError as error:
        print(f"lineage: {error}")
        return EXIT_BLOCKED
    print(f"{request.id}: {request.status} by {request.decided_by} (key {signer.key_id})" + (f", valid until {request.valid_until}" if request.valid_until else ""))
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    from lineage.approve.keys import generate, key_id, public_text, write_private_key
    from lineage.identity.canonical import unplain_reason

    name = args.principal or args.server
    reason = unplain_reason(name)
    if reason:
        raise UsageError(f"{'--principal' if args.principal else '--server'} {name!r} {reason}")
    path = Path(args.out).expanduser()
    key = generate()
    try:
        write_private_key(key, path)
    except FileExistsError:
        raise UsageError(f"{path}: exists; keygen never overwrites a key") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {error.strerror or error}") from None
    public = public_text(key, name)
    print(f"key id: {key_id(key)}")
    if args.principal:
        print(f"private key: {path} (keep it to yourself; approve with --key {path})")
        print("add to the policy:\n  approvals:\n    keys:")
        print(f"      - {{principal: {json.dumps(name)}, public_key: {json.dumps(public)}}}")
    else:
        print(f"private key: {path} (for the server only: [lineage_governance] approvals_signing_key = {path})")
        print("add to the policy:\n  approvals:\n    server_keys:")
        print(f"      - {{name: {json.dumps(name)}, public_key: {json.dumps(public)}}}")
    return 0
