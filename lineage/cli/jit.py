"""``lineage jit plan|run|sweep|check``: per-run PostgreSQL roles granted exactly what the statements need."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from contextlib import contextmanager

from lineage.cli import EXIT_APPROVAL, EXIT_BLOCKED, EXIT_OK, UsageError, summary
from lineage.cli.approval_options import add_approval_options, held_hint, open_approvals
from lineage.cli.check import read_sql
from lineage.cli.common import add_engine_options, add_policy_option, identity_from_args, load_catalog_args, load_policy_arg
from lineage.decide.engine import Engine
from lineage.jit.manager import JitError, JitManager, JitRefused, plan_grants

EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_INTERRUPTED = 128 + signal.SIGINT


def register(subparsers) -> None:
    jit = subparsers.add_parser("jit", help=summary("jit"))
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
    sweep = commands.add_parser("sweep", help="drop JIT roles whose TTL passed (safe to run concurrently)")
    add_policy_option(sweep)
    sweep.add_argument("--ledger", metavar="URL")
    sweep.set_defaults(handler=run_sweep)
    check = commands.add_parser("check", help="report what the admin, the owner role and PUBLIC can do that they should not")
    add_policy_option(check)
    check.add_argument("--dsn", help="the admin DSN (default: the variable the policy's jit.admin_dsn_env names)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(handler=run_check)


def _ledger(url):
    from lineage.record import open_ledger

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
        print(json.dumps({"grants": plan.describe(), "creates": plan.created, "notes": plan.notes, "refused": plan.refusals}, indent=2))
    else:
        lines = ["grants:"] + [f"  {line}" for line in plan.describe()]
        lines += (["notes:"] + [f"  {note}" for note in plan.notes]) if plan.notes else []
        lines += (["refused (no role would be created):"] + [f"  {refusal}" for refusal in plan.refusals]) if plan.refusals else []
        print("\n".join(lines))
    return EXIT_BLOCKED if plan.refusals else EXIT_OK


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C, so the role is dropped on the way out (not left to its TTL)."""


@contextmanager
def _sigterm_unwinds():
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_run(args: argparse.Namespace) -> int:
    import psycopg

    from lineage.governor import ApprovalRequired, ExecutionContext, GovernanceError, Governor
    from lineage.jit.dsn import DsnError, check_session_user

    policy, engine, identity, decisions = _decisions(args)
    ledger = _ledger(args.ledger)
    approvals, identity = open_approvals(policy, args, ledger, identity)
    try:
        manager = JitManager.from_policy(policy, ledger)
    except JitError as error:
        raise UsageError(str(error)) from None
    code = EXIT_OK
    role = None
    with _sigterm_unwinds():
        try:
            try:
                role = manager.create(identity, approvals.grantable(decisions, identity))
            except JitRefused as error:
                print(str(error))
                return EXIT_BLOCKED
            except JitError as error:
                raise UsageError(str(error)) from None
            print(f"role {role.name} (valid until {role.expires_at.isoformat()}):")
            for line in role.grants:
                print(f"  granted {line}")
            for note in role.plan.notes:
                print(f"  not granted: {note}")
            try:
                connection = psycopg.connect(role.dsn, autocommit=True)
            except psycopg.Error as error:
                raise UsageError(f"cannot connect as the run's role {role.name}: {str(error).strip()}") from None
            with connection:
                try:
                    with connection.cursor() as cursor:
                        check_session_user(cursor, role.name)
                except DsnError as error:
                    raise UsageError(str(error)) from None
                # the run's one session is open: no other may log in as the role, even with a password it set itself
                manager.seal(role)
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
        except Terminated:
            print("terminated (SIGTERM): dropping the role")
            code = EXIT_TERMINATED
        except KeyboardInterrupt:
            print("interrupted: dropping the role")
            code = EXIT_INTERRUPTED
        finally:
            if role is not None:
                signal_guard = signal.signal(signal.SIGTERM, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() else None
                try:
                    outcome = "terminated" if code in (EXIT_TERMINATED, EXIT_INTERRUPTED) else "failed" if code else "succeeded"
                    result = manager.revoke(role, identity, outcome)
                    if result.get("dropped"):
                        print(f"role {role.name} dropped ({result.get('sessions_terminated', 0)} session(s) terminated)")
                    else:
                        print(f"role {role.name} NOT dropped: {result.get('error') or result.get('reason')}; `lineage jit sweep` drops it after its TTL")
                finally:
                    if signal_guard is not None:
                        signal.signal(signal.SIGTERM, signal_guard)
    return code


def run_sweep(args: argparse.Namespace) -> int:
    policy = load_policy_arg(args.policy)
    try:
        swept = JitManager.from_policy(policy, _ledger(args.ledger)).sweep()
    except JitError as error:
        raise UsageError(str(error)) from None
    print(f"swept {len(swept)} role(s)" + (": " + ", ".join(swept) if swept else ""))
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    import psycopg

    from lineage.jit.audit import audit
    from lineage.jit.dsn import DsnError, parse_admin_dsn

    policy = load_policy_arg(args.policy)
    settings = policy.policy.jit
    dsn = args.dsn or os.environ.get(settings.admin_dsn_env)
    if not dsn:
        raise UsageError(f"give the admin DSN with --dsn or ${settings.admin_dsn_env}")
    try:
        parse_admin_dsn(dsn, "--dsn" if args.dsn else f"${settings.admin_dsn_env}")
        connection = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except DsnError as error:
        raise UsageError(str(error)) from None
    except psycopg.Error as error:
        raise UsageError(f"cannot connect with the admin DSN: {type(error).__name__}") from None
    from lineage.jit.manager import secure_admin_session

    with connection:
        secure_admin_session(connection)
        findings = audit(connection, settings.owner_role)
    if args.format == "json":
        print(json.dumps([finding.to_dict() for finding in findings], indent=2))
    elif findings:
        print("\n".join(f"{finding.level}: [{finding.subject}] {finding.message}" for finding in findings))
    else:
        print("nothing found: the admin, the owner role and PUBLIC hold nothing JIT roles should not reach")
    return EXIT_BLOCKED if any(finding.level == "error" for finding in findings) else EXIT_OK
