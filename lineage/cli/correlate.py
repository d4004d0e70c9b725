"""``lineage correlate LOG...``: line PostgreSQL's statement log up with the ledger.

    lineage correlate /var/lib/postgresql/15/main/log/ --ledger postgresql://audit@db/ledger
    lineage correlate postgresql.csv --since 1d --format json

LOG is a csvlog file or a directory of them (``log_destination=csvlog``, ``log_statement=all``).
Reports the statements attributed to each run and principal (with its transaction control
and catalog lookups, by session or time), the statements no governed run explains (with
user, application, client and time), and divergences (a statement carrying a run's comment
whose SQL the ledger does not record for that run). Exit 0 when every logged statement is
explained, 1 when any is unattributed or divergent, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timezone

from lineage.cli import EXIT_BLOCKED, EXIT_OK, UsageError, summary
from lineage.cli.ledger import shortened, add_ledger_option, open_for_reading
from lineage.cli.times import parse_time
from lineage.evidence.correlate import WINDOW_SECONDS, CorrelationReport, correlate
from lineage.evidence.csvlog import LogError, read_statements
from lineage.record.postgres import ledger_statements


def register(subparsers) -> None:
    parser = subparsers.add_parser("correlate", help=summary("correlate"), description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", metavar="LOG", help="csvlog files or directories of them")
    add_ledger_option(parser)
    parser.add_argument("--since", help="only log lines from this time (2026-05-09, 2026-05-09T10:00:00Z, or 2h ago)")
    parser.add_argument("--until", help="only log lines up to this time")
    parser.add_argument("--database", action="append", help="only this database (repeatable)")
    parser.add_argument("--dialect", default="postgres", help="SQL dialect of the logged statements (default postgres)")
    parser.add_argument("--window", type=float, default=WINDOW_SECONDS, metavar="SECONDS",
                        help=f"attribute a catalog lookup without a session of any run to the run whose statements are this close in time (default {WINDOW_SECONDS:g})")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run_correlate)


def run_correlate(args: argparse.Namespace) -> int:
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until", end_of_day=True)
    databases = set(args.database or ())

    warned = []

    def wanted(statement) -> bool:
        if databases and statement.database not in databases:
            return False
        when = statement.time
        if when is None or not (since or until):
            return True
        if when.tzinfo is None:  # a log_timezone other than UTC: its abbreviation is not a reliable zone
            if not warned:
                print(f"lineage: {statement.source}: log times are not in UTC; --since/--until compare them as if they were (set log_timezone=UTC)", file=sys.stderr)
                warned.append(True)
            when = when.replace(tzinfo=timezone.utc)
        return not (since and when < since) and not (until and when > until)

    with open_for_reading(args.ledger) as ledger:
        try:
            report = correlate((s for s in read_statements(args.logs) if wanted(s)), ledger.entries(), args.dialect, ledger_statements(), window=args.window)
        except LogError as error:
            raise UsageError(str(error)) from None
        url = ledger.url
    if args.format == "json":
        json.dump({"ledger": url, "logs": args.logs, **report.to_dict()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render(report, url))
    return EXIT_OK if report.clean else EXIT_BLOCKED


def _time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] if value is not None else "-"


def render(report: CorrelationReport, url: str) -> str:
    lines = [
        f"database log: {report.logged} statement(s) from {report.first or '-'} to {report.last or '-'}; ledger {url}",
        f"  attributed {report.attributed} ({sum(run.statements for run in report.runs)} with a run's comment, "
        f"{sum(run.control for run in report.runs)} transaction control, {report.catalog_lookups} catalog lookups), "
        f"unattributed {len(report.unattributed)}, divergent {len(report.divergences)}",
        f"  transaction control outside every run {report.control_outside_runs}, ledger's own {report.ledger_traffic}",
        "",
        "BY PRINCIPAL",
        f"  {'principal':<28} {'runs':>5} {'statements':>10} {'divergent':>9}  actors",
    ]
    for item in report.principals():
        lines.append(f"  {shortened(item['principal'] or '-', 28):<28} {item['runs']:>5} {item['statements']:>10} {item['divergent']:>9}  {', '.join(item['actors']) or '-'}")
    lines += ["", "BY RUN", f"  {'run id':<36}  {'principal':<20} {'job':<28} {'stmts':>5} {'div':>4} {'ctl':>4} {'cat':>4}  {'db user':<12} first"]
    for run in report.runs:
        lines.append(
            f"  {run.run_id:<36}  {shortened(run.principal or '-', 20):<20} {shortened(run.job or '-', 28):<28} {run.statements:>5} {run.divergent:>4} "
            f"{run.control:>4} {run.catalog_lookups:>4}  {shortened(','.join(sorted(run.database_users)) or '-', 12):<12} {run.first or '-'}"
        )
        if run.catalog_by_time:
            lines.append(f"      {run.catalog_by_time} catalog lookup(s) attributed by time (same database user and database, no session of the run)")
        for missing in run.not_in_log:
            lines.append(f"      recorded but not in this log: {shortened(missing['sql'] or missing['fingerprint'], 90)}")
    lines += ["", f"UNATTRIBUTED ({len(report.unattributed)}): in the database log, explained by no governed run"]
    if report.unattributed:
        lines.append(f"  {'time (log)':<23} {'user':<12} {'database':<12} {'application':<16} {'client':<22} statement (normalised)")
    for item in report.unattributed:
        s = item.statement
        lines.append(f"  {_time(s.time):<23} {shortened(s.user, 12):<12} {shortened(s.database, 12):<12} {shortened(s.application or '-', 16):<16} {shortened(s.client or '-', 22):<22} {shortened(item.sql, 80)}")
        lines.append(f"  {'':<23} {item.reason}" + (f"; tables: {', '.join(item.tables)}" if item.tables else ""))
    lines += ["", f"DIVERGENT ({len(report.divergences)}): carries a run's identity, but the ledger does not record this SQL for that run"]
    for item in report.divergences:
        s = item.statement
        lines.append(f"  {_time(s.time):<23} run {item.run_id} ({item.principal}) user {s.user} app {s.application or '-'} client {s.client or '-'}")
        lines.append(f"  {'':<23} {shortened(item.sql, 100)}")
        lines.append(f"  {'':<23} {item.reason}")
    return "\n".join(lines)
