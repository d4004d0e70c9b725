"""``lineage events validate FILE.jsonl``, ``status``, ``flush``, ``requeue`` and ``serve``.

Exit codes: ``validate`` 0 all valid, 1 any invalid event (line number and reason on stdout),
2 unreadable file; ``status`` 0, or 1 when events were rejected, dropped or held, or a damaged
spool file was quarantined; ``flush`` 0 when nothing is left pending, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from lineage.cli import UsageError, summary


def register(subparsers) -> None:
    events = subparsers.add_parser("events", help=summary("events"))
    commands = events.add_subparsers(dest="events_command", metavar="SUBCOMMAND")
    commands.required = True

    validate = commands.add_parser(
        "validate", help="check events (JSONL, one per line) against the OpenLineage spec, our facet schemas and Marquez's rules"
    )
    validate.add_argument("file", help="JSONL file, or - for stdin")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(handler=run_validate)

    serve = commands.add_parser(
        "serve", help="run a small server speaking Marquez's POST /api/v1/lineage contract (try events without Docker; Ctrl-C stops)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="port (default 5000, Marquez's API port)")
    serve.add_argument("--no-validate", action="store_true", help="accept any JSON event")
    serve.set_defaults(handler=run_serve)

    for name, helptext, handler in (
        ("status", "pending, delivered, rejected and dropped events of the spool, and the last error", run_status),
        ("flush", "deliver the spool's pending events now (through openlineage-python's configured transport)", run_flush),
        ("requeue", "move events the backend rejected back into the queue (after fixing the cause); --held: send held events once more", run_requeue),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("--spool", metavar="PATH", help="spool file (default: $LINEAGE_EVENTS_SPOOL, else .lineage/events-spool.db)")
        command.add_argument("--format", choices=("text", "json"), default="text")
        if name == "flush":
            command.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds (default 60)")
        if name == "requeue":
            command.add_argument("--held", action="store_true",
                                 help="instead: let each held event (sent twice without an answer) be sent once more; the backend may see it a third time")
        command.set_defaults(handler=handler)


def run_validate(args: argparse.Namespace) -> int:
    from lineage.deliver.validate import validate_lines

    try:
        if args.file == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(args.file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
    except OSError as error:
        raise UsageError(f"{args.file}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{args.file}: not UTF-8 text ({error.reason})") from None
    problems = validate_lines(lines)
    count = sum(1 for line in lines if line.strip())
    bad_lines = sorted({number for number, _ in problems})
    if args.format == "json":
        print(json.dumps({"file": args.file, "events": count, "invalid": len(bad_lines),
                          "problems": [{"line": number, "problem": problem} for number, problem in problems]}, indent=2))
    else:
        for number, problem in problems:
            print(f"{args.file}:{number}: {problem}")
        print(f"{args.file}: {count} event(s), {len(bad_lines)} invalid" if problems else f"{args.file}: {count} event(s), all valid")
    return 1 if problems else 0


def run_serve(args: argparse.Namespace) -> int:
    from lineage.deliver.marquez.server import serve

    try:
        return serve(args.host, args.port, not args.no_validate)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None


def _spool(args: argparse.Namespace):
    from lineage.deliver.spool import Spool, default_path

    path = Path(args.spool) if args.spool else default_path()
    if not path.exists():
        raise UsageError(f"{path}: no spool there (name it with --spool or LINEAGE_EVENTS_SPOOL)")
    try:
        spool = Spool(path, sender=False, exit_wait=0)
    except Exception as error:
        raise UsageError(f"{path}: cannot open the spool: {error}") from None
    if spool.broken is not None:
        raise UsageError(f"{path}: cannot open the spool: {spool.broken}")
    return spool


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def run_status(args: argparse.Namespace) -> int:
    spool = _spool(args)
    try:
        status = spool.status()
    finally:
        spool.close()
    if args.format == "json":
        print(json.dumps(status.to_dict(), indent=2))
    else:
        oldest = f", oldest {status.oldest_pending_seconds:.0f}s old" if status.oldest_pending_seconds is not None else ""
        print(f"spool      {status.path}")
        print(f"pending    {status.pending} event(s), {status.pending_bytes / 2**20:.2f} MiB{oldest} (limit {status.max_events} events, {status.max_bytes / 2**20:.0f} MiB)")
        print(f"delivered  {status.delivered} (last {_when(status.last_delivery_at)})")
        print(f"rejected   {status.rejected}" + ("  <- refused by the backend; see the spool's rejected table, fix, then `lineage events requeue`" if status.rejected else ""))
        print(f"dropped    {status.dropped}" + ("  <- arrived while the spool was full; not stored" if status.dropped else ""))
        print(f"sender     " + (f"pid {status.sender_pid}" if status.sender_pid else "none running (`lineage events flush` delivers)"))
        print(f"transport  {status.transport or 'not used yet'}")
        if status.last_error:
            print(f"last error {status.last_error} ({_when(status.last_error_at)})")
        if status.retrying:
            oldest = status.retrying_oldest or {}
            print(f"retrying   {status.retrying} event(s); the oldest: {oldest.get('order')}, {oldest.get('attempts')} attempt(s), "
                  f"last error {oldest.get('last_error')}  <- later events of the same run wait for it")
        print(f"held       {status.held} event(s)" + (
            "  <- sent twice without an answer (the backend may have them); their runs wait. "
            "`lineage events requeue --held` sends each once more" if status.held else ""))
        for held in status.held_events:
            print(f"           event {held['id']} of {held['order']}: {held['sends']} sends, {held['reason']} ({_when(held['since'])})")
        print(f"quarantined {len(status.quarantined)}" + ("  <- damaged spool files moved aside (readable events were salvaged); "
                                                        "inspect, then delete them" if status.quarantined else ""))
        for moved in status.quarantined:
            print(f"           {moved['file']}: {moved['reason']}")
    problems = status.rejected or status.dropped or status.held or status.quarantined
    return 1 if problems else 0


def run_flush(args: argparse.Namespace) -> int:
    spool = _spool(args)
    try:
        result = spool.flush(timeout=args.timeout)
    finally:
        spool.close()
    if args.format == "json":
        print(json.dumps(result.__dict__, indent=2))
    else:
        print(f"delivered {result.delivered}, rejected {result.rejected}, still pending {result.remaining}"
              + (f" ({result.held} held: `lineage events requeue --held`)" if result.held else ""))
        if result.error:
            print(f"last error: {result.error}")
    return 0 if result.remaining == 0 else 1


def run_requeue(args: argparse.Namespace) -> int:
    spool = _spool(args)
    try:
        moved = spool.release_held() if args.held else spool.requeue_rejected()
    finally:
        spool.close()
    if args.held:
        print(json.dumps({"released": moved}) if args.format == "json" else f"released {moved} held event(s): each is sent once more")
    else:
        print(json.dumps({"requeued": moved}) if args.format == "json" else f"requeued {moved} rejected event(s)")
    return 0
