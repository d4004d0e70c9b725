"""``lineage dbt [options] <dbt command> [dbt args]``: dbt, governed (see lineage.adapters.dbt.runner).

    lineage dbt --policy policy.yaml build --select marts+      pre-flight, ledger, events, then dbt
    lineage dbt macros-path                                     where the lineage_governance dbt package is

Options of ``lineage dbt`` come before the dbt command; everything after it goes to dbt.
Exit codes: 0 dbt succeeded; 1 the pre-flight blocked (nothing ran) or dbt failed; 2 bad input;
3 approval needed (the request ids are printed; approve, then run again with --approval ID,
or pass --wait). This module stays light: the governance sidecar loads the heavy parts while
dbt is imported.
"""

from __future__ import annotations

import argparse
import os
import sys

from lineage.cli import UsageError, summary


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dbt",
        help=summary("dbt"),
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--policy", metavar="FILE", default=os.environ.get("LINEAGE_POLICY"), help="policy YAML (default: $LINEAGE_POLICY, else built-in defaults)")
    parser.add_argument("--catalog", metavar="FILE", help="extra catalog JSON for tables the warehouse, catalog.json and the manifest do not describe")
    parser.add_argument("--principal", help="accountable identity (default: $LINEAGE_PRINCIPAL, else os:<user>)")
    parser.add_argument("--group", action="append", default=None, help="a group of the principal (repeatable; default: $LINEAGE_GROUPS)")
    parser.add_argument("--env", help="environment such as dev or prod (default: $LINEAGE_ENV, else dev)")
    parser.add_argument("--wait", action="store_true", help="when approval is needed, wait for it instead of exiting 3")
    parser.add_argument("--wait-timeout", type=float, metavar="SECONDS", help="how long --wait waits (default: the policy's approval ttl)")
    parser.add_argument("--approval", action="append", default=[], metavar="ID", help="an approval granted for an earlier run of this job (repeatable)")
    parser.add_argument("--ledger", metavar="URL", help="ledger (default: $LINEAGE_LEDGER_URL, else .lineage/ledger.db)")
    parser.add_argument("--approvals", metavar="URL", help="approvals store (default: $LINEAGE_APPROVALS_URL, else next to the ledger)")
    parser.add_argument("--events-file", metavar="FILE", help="also append the OpenLineage events to this JSONL file (default: $LINEAGE_EVENTS_FILE)")
    parser.add_argument("--report-json", metavar="FILE", help="write the pre-flight report (findings, lineage, classifications) as JSON")
    parser.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="DBT_COMMAND ...", help="the dbt command and its arguments")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    dbt_args = list(args.dbt_args)
    if dbt_args and dbt_args[0] == "--":
        dbt_args = dbt_args[1:]
    if not dbt_args:
        raise UsageError("lineage dbt: give a dbt command, for example `lineage dbt build` (or `lineage dbt macros-path`)")
    if dbt_args[0] == "macros-path":
        from lineage.adapters.dbt import macros_path

        try:
            print(macros_path())
        except FileNotFoundError as error:
            raise UsageError(str(error)) from None
        return 0
    if args.policy and not os.path.isfile(args.policy):
        raise UsageError(f"{args.policy}: no such policy file")
    from lineage.adapters.dbt.runner import Options, run_dbt

    options = Options(
        policy=args.policy,
        principal=args.principal,
        groups=tuple(args.group) if args.group else None,
        environment=args.env,
        catalog=args.catalog,
        wait=args.wait,
        wait_timeout=args.wait_timeout,
        approval_ids=tuple(args.approval),
        ledger=args.ledger,
        approvals=args.approvals,
        events_file=args.events_file,
        report_json=args.report_json,
    )
    try:
        import dbt  # noqa: F401  (the package; dbt.cli is imported by the runner, beside the sidecar)
    except ImportError:
        raise UsageError("lineage dbt needs dbt-core and an adapter: pip install 'lineage-governance[dbt]'") from None
    outcome = run_dbt(dbt_args, options)
    if outcome.message and outcome.exit_code:
        print(f"lineage dbt: {outcome.message}", file=sys.stderr)
    return outcome.exit_code
