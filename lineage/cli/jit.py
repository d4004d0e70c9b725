"""``lineage jit plan|run|sweep``: per-run PostgreSQL roles granted exactly what the statements need."""

from __future__ import annotations

import argparse
import json

from lineage.cli import EXIT_APPROVAL, EXIT_BLOCKED, EXIT_OK, UsageError
from lineage.cli.approval_options import add_approval_options, held_hint, open_approvals
from lineage.cli.check import read_sql
from lineage.cli.common import add_engine_options, add_policy_option, identity_from_args, load_catalog_args, load_policy_arg
from lineage.engine import Engine
from lineage.jit import JitError, JitManager, plan_grants


def register(subparsers) -> None:
    jit = subparsers.add_parser("jit", help="just-in-time PostgreSQL roles that expire with the run")
    commands = jit.add_subparsers(dest="jit_command", metavar="SUBCOMMAND")
    commands.required = True
    plan = commands.add_parser("plan", help="print the grants the statements need (nothing is created)")
    run = commands.add_parser("run", help="create a role for these statements, run them as it, then drop it")
    for command in (plan, run):
        command.add_argument("files", nargs="*", metavar="FILE")
        command.add_argument("--sql", action="append")
        add_engine_options(command)
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.set_defaults(handler=run_plan)
    run.add_argument("--ledger", metavar="URL", help="ledger (default: $LINEAGE_LEDGER_URL)")
    add_approval_options(run)
    run.set_defaults(handler=run_run)
    sweep = commands.add_parser("sweep", help="drop roles whose run ended or whose TTL passed (safe to run concurrently)")
    add_policy_option(sweep)
    sweep.add_argument("--ledger", metavar="URL")
    sweep.set_defaults(handler=run_sweep)


def _ledger(url):
    from lineage.ledger import open_ledger

    return open_ledger(url)


def _decisions(args):
    policy = load_policy_arg(args.policy)
    engine = Engine(policy, load_catalog_args(args), dialect=args.dialect)
    identity = identity_from_args(args)
    return policy, engine, identity, engine.check(read_sql(args), identity)


def run_plan(args: argparse.Namespace) -> int:
    _, _, _, decisions = _decisions(args)
    plan = plan_grants(decisions, args.database)
    if args.format == "json":
        print(json.dumps({"grants": plan.describe(), "creates": plan.created, "notes": plan.notes}, indent=2))
    else:
        print("\n".join(["grants:"] + [f"  {line}" for line in plan.describe()] + (["notes:"] + [f"  {note}" for note in plan.notes] if plan.notes else [])))
    return EXIT_OK


def run_run(args: argparse.Namespace) -> int:
    import psycopg

    from lineage.governor import ApprovalRequired, ExecutionContext, GovernanceError, Governor

    policy, engine, identity, decisions = _decisions(args)
    ledger = _ledger(args.ledger)
    approvals, identity = open_approvals(policy, args, ledger, identity)
    try:
        manager = JitManager.from_policy(policy, ledger)
        role = manager.create(identity, approvals.grantable(decisions, identity))
    except JitError as error:
        raise UsageError(str(error)) from None
    print(f"role {role.name} (valid until {role.expires_at.isoformat()}):")
    for line in role.plan.describe():
        print(f"  granted {line}")
    code = EXIT_OK
    try:
        with psycopg.connect(role.dsn, autocommit=True) as connection:
            governor = Governor(engine, ledger=ledger, approvals=approvals)
            run_identity = identity.with_(database_user=role.name)
            for decision in decisions:
                try:
                    outcome = governor.execute_decision(decision, run_identity, lambda sql: connection.execute(sql), ExecutionContext("postgres"))
                    print(f"  #{decision.index} {decision.facts.kind}: ok" + (f" ({outcome.result.rowcount} rows)" if outcome.result is not None and outcome.result.rowcount >= 0 else ""))
                except ApprovalRequired as error:
                    print(f"  #{decision.index} held: {error}\n{held_hint(error.request_id)}")
                    code = EXIT_APPROVAL
                    break
                except GovernanceError as error:
                    print(f"  #{decision.index} refused: {error}")
                    code = EXIT_BLOCKED
                    break
                except psycopg.Error as error:
                    print(f"  #{decision.index} failed in the database: {str(error).strip()}")
                    code = EXIT_BLOCKED
                    break
    finally:
        result = manager.revoke(role, identity, "failed" if code else "succeeded")
        print(f"role {role.name} dropped ({result['sessions_terminated']} session(s) terminated)")
    return code


def run_sweep(args: argparse.Namespace) -> int:
    policy = load_policy_arg(args.policy)
    try:
        swept = JitManager.from_policy(policy, _ledger(args.ledger)).sweep()
    except JitError as error:
        raise UsageError(str(error)) from None
    print(f"swept {len(swept)} role(s)" + (": " + ", ".join(swept) if swept else ""))
    return EXIT_OK
