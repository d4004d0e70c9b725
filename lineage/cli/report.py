"""``lineage report``: an HTML page an auditor can read (runs, decisions, masks, approvals, lineage)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lineage.cli import EXIT_BLOCKED, EXIT_OK, UsageError, summary


def register(subparsers) -> None:
    report = subparsers.add_parser("report", help=summary("report"))
    report.add_argument("--ledger", metavar="URL", help="ledger (default: $LINEAGE_LEDGER_URL, else .lineage/ledger.db)")
    report.add_argument("--events", action="append", default=[], metavar="FILE.jsonl", help="OpenLineage events (repeatable; default: $LINEAGE_EVENTS_FILE)")
    report.add_argument("--run", metavar="RUN_ID", help="only this run")
    report.add_argument("--out", default="lineage-report.html", help="output file (default: lineage-report.html)")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    import os

    from lineage.record import LedgerError, open_ledger
    from lineage.evidence.report import build_report

    events = args.events or ([os.environ["LINEAGE_EVENTS_FILE"]] if os.environ.get("LINEAGE_EVENTS_FILE") else [])
    try:
        ledger = open_ledger(args.ledger, create=False)
        html, runs = build_report(ledger, events, args.run)
    except (LedgerError, OSError, ValueError) as error:
        raise UsageError(str(error)) from None
    Path(args.out).write_text(html, encoding="utf-8")
    verification = ledger.verify()
    print(f"wrote {args.out}: {len(runs)} run(s), ledger {'verified' if verification.ok else 'BROKEN at record ' + str(verification.broken_seq)}")
    return EXIT_OK if verification.ok else EXIT_BLOCKED
