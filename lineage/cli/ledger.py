"""``lineage ledger verify|anchor|show|export``: prove the ledger intact, pin its head, read it.

    lineage ledger verify                      # exit 1 and the first broken record on any change
    lineage ledger anchor --output head.json   # keep this file where ledger writers cannot reach
    lineage ledger verify --anchor head.json   # also catches a truncated or rewritten tail
    lineage ledger show --principal alice@corp --table crm.customers --since 1d
    lineage ledger export --format csv --output ledger.csv
    lineage ledger reconcile                   # statements whose outcome is unknown (exit 1 if any)
    lineage ledger reconcile --seq 812 --ran --rows 1 --evidence "order 42 is in crm.orders once"

The ledger is ``--ledger URL``, default ``$LINEAGE_LEDGER_URL``, else ``.lineage/ledger.db``.
``verify`` also reads a JSON Lines export (``--ledger export.jsonl``), so an auditor can check
a copy without access to the database.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from lineage.cli import EXIT_BLOCKED, EXIT_OK, UsageError, summary
from lineage.cli.times import ledger_time, parse_time
from lineage.record import Anchor, Entry, Filters, Ledger, LedgerError, canonical_json, default_url, open_ledger, verify_entries

CSV_COLUMNS = [
    "seq", "time", "kind", "phase", "run_id", "principal", "actor", "job", "source", "environment",
    "statement_kind", "fingerprint", "sql", "executed_fingerprint", "action", "effective_action", "mode",
    "policy_version", "rules", "tables_read", "tables_written", "masked_columns", "rows", "duration_ms",
    "error", "approval_id", "payload", "prev_hash", "hash",
]


def add_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", metavar="URL", default=None, help="postgresql://..., sqlite:///path or a file path (default: $LINEAGE_LEDGER_URL, else .lineage/ledger.db)")


def register(subparsers) -> None:
    ledger = subparsers.add_parser("ledger", help=summary("ledger"), description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = ledger.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND")
    commands.required = True

    verify = commands.add_parser("verify", help="check the hash chain; exit 1 and the first broken record on any change")
    add_ledger_option(verify)
    verify.add_argument("--anchor", metavar="FILE", help="an anchor from `lineage ledger anchor`: also detect a truncated or rewritten tail")
    verify.add_argument("--format", choices=("text", "json"), default="text")
    verify.set_defaults(handler=run_verify)

    anchor = commands.add_parser("anchor", help="print (or write) the head record's sequence number and hash")
    add_ledger_option(anchor)
    anchor.add_argument("--output", metavar="FILE", help="also write the anchor to FILE")
    anchor.set_defaults(handler=run_anchor)

    show = commands.add_parser("show", help="list records, filtered by run, principal, table, action or time")
    add_ledger_option(show)
    add_filter_options(show)
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(handler=run_show)

    export = commands.add_parser("export", help="write records as JSON Lines (verifiable) or CSV")
    add_ledger_option(export)
    add_filter_options(export)
    export.add_argument("--format", choices=("jsonl", "csv"), required=True)
    export.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(handler=run_export)


    reconcile = commands.add_parser(
        "reconcile",
        help="list statements whose outcome is unknown (started, no end recorded), or settle one with --seq and --ran/--not-run",
    )
    add_ledger_option(reconcile)
    reconcile.add_argument("--since", default="30d", help="look at records from this time (default 30d; a date, a time or a duration ago)")
    reconcile.add_argument("--run", metavar="RUN_ID", help="only this run's statements")
    reconcile.add_argument("--seq", type=int, help="settle the statement whose started record is this sequence number")
    outcome = reconcile.add_mutually_exclusive_group()
    outcome.add_argument("--ran", action="store_true", help="it ran (and committed)")
    outcome.add_argument("--not-run", action="store_true", help="it did not run, or rolled back")
    reconcile.add_argument("--rows", type=int, help="rows it wrote, if known")
    reconcile.add_argument("--evidence", help="how you know: the rows you found, the database log's line, ... (required to settle)")
    reconcile.add_argument("--by", help="who settles it (default: $LINEAGE_PRINCIPAL, else os:<user>)")
    reconcile.add_argument("--format", choices=("text", "json"), default="text")
    reconcile.set_defaults(handler=run_reconcile)


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", metavar="RUN_ID", help="records of one run")
    parser.add_argument("--principal", help="records of one principal")
    parser.add_argument("--table", help="statements that read or wrote this table ([database.]schema.table)")
    parser.add_argument("--action", choices=("allow", "warn", "mask", "require_approval", "block"), help="decisions with this action")
    parser.add_argument("--kind", help="record kind: statement, or an event kind such as approval_granted")
    parser.add_argument("--since", help="from this time: 2026-05-09, 2026-05-09T10:00:00Z, or a duration ago such as 2h")
    parser.add_argument("--until", help="up to this time (a date means the end of that day)")
    parser.add_argument("--limit", type=int, help="at most this many records")


def open_for_reading(url: str | None) -> Ledger:
    try:
        return open_ledger(url or default_url(), create=False)
    except LedgerError as error:
        raise UsageError(str(error)) from None


def filters_from_args(args: argparse.Namespace) -> Filters:
    return Filters(
        run_id=args.run,
        principal=args.principal,
        action=args.action,
        kind=args.kind,
        since=ledger_time(parse_time(args.since, "--since")),
        until=ledger_time(parse_time(args.until, "--until", end_of_day=True)),
        table=args.table,
    )


# -- verify / anchor --------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    url = args.ledger or default_url()
    anchor = read_anchor(args.anchor) if args.anchor else None
    if url.endswith(".jsonl"):
        result = verify_entries(read_jsonl(Path(url)), None, anchor)
    else:
        with open_for_reading(url) as ledger:
            try:
                result = ledger.verify(anchor)
            except LedgerError as error:
                raise UsageError(str(error)) from None
            url = ledger.url
    if args.format == "json":
        print(json.dumps({"ledger": url, **result.to_dict(), "anchor": anchor.to_dict() if anchor else None}, indent=2))
    elif result.ok:
        against = f"; matches the anchor at record {anchor.seq}" if anchor else ""
        print(f"ok: {url}: {result.records} records, chain intact{against}; head {result.head_seq} {result.head_hash}")
    else:
        print(f"BROKEN at record {result.broken_seq}: {url}: {result.problem}")
        print(f"  {result.records} records verify before it (up to {result.head_seq}).")
    return EXIT_OK if result.ok else EXIT_BLOCKED


def run_anchor(args: argparse.Namespace) -> int:
    with open_for_reading(args.ledger) as ledger:
        anchor = ledger.anchor()
    text = json.dumps(anchor.to_dict(), indent=2)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"{args.output}: cannot write the anchor: {error.strerror or error}") from None
    print(text)
    return EXIT_OK


def read_anchor(path: str) -> Anchor:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Anchor(int(data["seq"]), str(data["hash"]), data.get("time"), data.get("ledger"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read the anchor: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not an anchor from `lineage ledger anchor` ({type(error).__name__}: {error})") from None


def read_jsonl(path: Path) -> Iterator[Entry]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield Entry(int(data["seq"]), data["prev_hash"], data["hash"], canonical_json(data["body"]))
            except (ValueError, KeyError, TypeError) as error:
                raise UsageError(f"{path}:{number}: not a line of `lineage ledger export --format jsonl` ({error})") from None


# -- show / export ----------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    with open_for_reading(args.ledger) as ledger:
        entries = list(ledger.entries(filters_from_args(args), limit=args.limit))
    if args.format == "json":
        json.dump([entry.to_dict() for entry in entries], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(render_table(entries))
    return EXIT_OK


def render_table(entries: list[Entry]) -> str:
    header = f"{'seq':>6}  {'time (UTC)':<19}  {'record':<16} {'action':<16} {'principal':<28} {'run id':<36}  statement [tables] [error]"
    lines = [header, "-" * len(header)]
    for entry in entries:
        row = flatten(entry)
        who = row["principal"] or "-"
        if row["actor"]:
            who = f"{row['actor']} for {who}"
        record = row["kind"] if row["kind"] != "statement" else f"stmt {row['phase']}"
        payload = entry.body.get("payload") or {}
        statement = row["sql"] or payload.get("sql") or json.dumps(payload, sort_keys=True)
        tables = " ".join(filter(None, [row["tables_read"], ("-> " + row["tables_written"]) if row["tables_written"] else ""]))
        detail = shortened(statement, 90) + (f"  [{tables}]" if tables else "") + (f"  [{row['error']}]" if row["error"] else "")
        lines.append(
            f"{entry.seq:>6}  {(row['time'] or '')[:19].replace('T', ' '):<19}  {record[:16]:<16} {row['action'] or '-':<16} "
            f"{shortened(who, 28):<28} {row['run_id'] or '-':<36}  {detail}"
        )
    lines.append(f"{len(entries)} record(s)")
    return "\n".join(lines)


def shortened(text: str, width: int) -> str:
    """``text`` fit into ``width`` characters for a table column ("..." marks the cut)."""
    return text if len(text) <= width else text[: width - 3] + "..."


def run_export(args: argparse.Namespace) -> int:
    with open_for_reading(args.ledger) as ledger:
        entries = ledger.entries(filters_from_args(args), limit=args.limit)
        if args.output:
            try:
                with open(args.output, "w", encoding="utf-8", newline="") as handle:
                    count = write_export(entries, args.format, handle)
            except OSError as error:
                raise UsageError(f"{args.output}: cannot write: {error.strerror or error}") from None
            print(f"{count} record(s) written to {args.output}", file=sys.stderr)
        else:
            write_export(entries, args.format, sys.stdout)
    return EXIT_OK


def write_export(entries: Iterable[Entry], format: str, handle: TextIO) -> int:
    count = 0
    if format == "jsonl":
        for entry in entries:
            handle.write(json.dumps(entry.to_dict(), sort_keys=True, separators=(",", ":")) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for entry in entries:
        writer.writerow(flatten(entry))
        count += 1
    return count


def flatten(entry: Entry) -> dict[str, Any]:
    """One record as flat columns (CSV, the table view)."""
    body = entry.body
    identity = body.get("identity") or {}
    statement = body.get("statement") or {}
    decision = body.get("decision") or {}
    tables = body.get("tables") or {}
    approval = body.get("approval") or {}
    return {
        "seq": entry.seq,
        "time": body.get("time"),
        "kind": body.get("kind"),
        "phase": body.get("phase"),
        "run_id": identity.get("run_id"),
        "principal": identity.get("principal"),
        "actor": identity.get("actor"),
        "job": f"{identity['job_namespace']}/{identity['job_name']}" if identity.get("job_name") else None,
        "source": identity.get("source"),
        "environment": identity.get("environment"),
        "statement_kind": statement.get("kind"),
        "fingerprint": statement.get("fingerprint"),
        "sql": statement.get("sql"),
        "executed_fingerprint": statement.get("executed_fingerprint") or statement.get("fingerprint"),
        "action": decision.get("action"),
        "effective_action": decision.get("effective_action"),
        "mode": decision.get("mode"),
        "policy_version": decision.get("policy_version"),
        "rules": " ".join(sorted({finding["rule"] for finding in decision.get("findings", ()) if finding.get("action") != "allow"})),
        "tables_read": " ".join(tables.get("read", ())),
        "tables_written": " ".join(tables.get("written", ())),
        "masked_columns": " ".join(body.get("masked_columns") or ()),
        "rows": body.get("rows"),
        "duration_ms": body.get("duration_ms"),
        "error": body.get("error"),
        "approval_id": approval.get("id"),
        "payload": json.dumps(body["payload"], sort_keys=True) if "payload" in body else None,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


# -- reconcile --------------------------------------------------------------------------------


def run_reconcile(args: argparse.Namespace) -> int:
    """Unknown outcomes: list them, or settle one (``lineage.record.outcomes``)."""
    from lineage.record.outcomes import unsettled

    with open_for_reading(args.ledger) as ledger:
        try:
            if args.seq is not None:
                return _settle(ledger, args)
            if args.ran or args.not_run:
                raise UsageError("--ran and --not-run settle one statement: name it with --seq")
            filters = Filters(run_id=args.run, since=ledger_time(parse_time(args.since, "--since")))
            waiting = unsettled(ledger.entries(filters))
        except LedgerError as error:
            raise UsageError(str(error)) from None
    if args.format == "json":
        print(json.dumps([_unsettled_row(entry) for entry in waiting], indent=2))
    else:
        for entry in waiting:
            row = _unsettled_row(entry)
            print(f"{row['seq']:>6}  {row['time'][:19].replace('T', ' ')}  run {row['run_id']}  {row['job']}  {row['principal']}")
            print(f"        {shortened(row['sql'] or '', 110)}")
            if row["tables_written"]:
                print(f"        writes {', '.join(row['tables_written'])}")
            print(f"        settle: lineage ledger reconcile --seq {row['seq']} --ran|--not-run --evidence \"...\"")
        print(f"{len(waiting)} statement(s) with an unknown outcome" + (
            ": each may have run. Check the target's rows, or the database's log (the statement carries its run_id in a comment, "
            "`lineage correlate` lines the log up with the ledger), then settle it." if waiting else ""))
    return EXIT_BLOCKED if waiting else EXIT_OK


def _settle(ledger: Ledger, args: argparse.Namespace) -> int:
    import os

    from lineage.identity.run_identity import RunIdentity
    from lineage.record.outcomes import SETTLED, settlement, unsettled

    if not (args.ran or args.not_run):
        raise UsageError("say how it ended: --ran or --not-run")
    if not args.evidence or not args.evidence.strip():
        raise UsageError("--evidence is required: how you know (the rows found, the database log's line, ...)")
    found = next(iter(ledger.entries(after=args.seq - 1, limit=1)), None)
    if found is None or found.seq != args.seq:
        raise UsageError(f"--seq {args.seq}: no such record in {ledger.url}")
    body = found.body
    if body.get("kind") != "statement" or body.get("phase") != "started":
        what = " ".join(filter(None, (body.get("kind"), body.get("phase"))))
        raise UsageError(f"--seq {args.seq}: not the started record of a statement (it is a {what} record)")
    run_id = (body.get("identity") or {}).get("run_id")
    if all(entry.seq != args.seq for entry in unsettled(ledger.entries(Filters(run_id=run_id)))):
        raise UsageError(f"--seq {args.seq}: its outcome is already recorded or settled (`lineage ledger show --run {run_id}`)")
    by = args.by or os.environ.get("LINEAGE_PRINCIPAL") or f"os:{_user()}"
    payload = settlement(found, ran=args.ran, rows=args.rows, evidence=args.evidence.strip(), by=by)
    entry = ledger.record_event(SETTLED, RunIdentity.from_dict(body.get("identity") or {"principal": by}), payload)
    if args.format == "json":
        print(json.dumps(entry.to_dict(), indent=2))
    else:
        print(f"settled record {args.seq} as {payload['outcome']} (record {entry.seq}, by {by})")
    return EXIT_OK


def _unsettled_row(entry: Entry) -> dict[str, Any]:
    row = flatten(entry)
    return {
        "seq": entry.seq,
        "time": row["time"] or "",
        "run_id": row["run_id"],
        "job": row["job"],
        "principal": row["principal"],
        "sql": row["sql"],
        "fingerprint": row["fingerprint"],
        "tables_written": row["tables_written"].split() if row["tables_written"] else [],
    }


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
