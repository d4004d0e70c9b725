"""``lineage check`` and ``lineage explain``: try a policy on SQL before it goes live."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lineage.cli import EXIT_APPROVAL, EXIT_BLOCKED, EXIT_OK, UsageError, summary
from lineage.cli.common import add_engine_options, identity_from_args, load_catalog_args, load_policy_arg
from lineage.decide.engine import Engine
from lineage.model import Action, Decision


def register(subparsers) -> None:
    check = subparsers.add_parser("check", help=summary("check"), description=__doc__)
    check.add_argument("files", nargs="*", metavar="FILE", help="SQL files (default: --sql, else stdin)")
    check.add_argument("--sql", action="append", help="SQL text (repeatable)")
    check.add_argument("--format", choices=("table", "json"), default="table")
    add_engine_options(check)
    check.set_defaults(handler=run_check)

    explain = subparsers.add_parser("explain", help=summary("explain"))
    explain.add_argument("files", nargs="*", metavar="FILE")
    explain.add_argument("--sql", action="append")
    explain.add_argument("--index", type=int, default=0, help="which statement (0-based; default 0)")
    add_engine_options(explain)
    explain.set_defaults(handler=run_explain)


def read_sql(args: argparse.Namespace) -> str:
    parts: list[str] = list(args.sql or [])
    for name in args.files:
        try:
            # undecodable bytes stay visible (as lone surrogates) so the analysis refuses them by offset
            parts.append(_decode(Path(name).read_bytes()) if name != "-" else _stdin())
        except OSError as error:
            raise UsageError(f"{name}: cannot read: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise UsageError(f"{'<stdin>' if name == '-' else name}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not parts:
        if sys.stdin.isatty():
            raise UsageError("no SQL given: use --sql, FILE arguments or stdin")
        parts.append(_stdin())
    # ASCII white space only: str.strip() would also drop control characters the check must see
    text = ";\n".join(part.strip(WHITESPACE).rstrip(";") for part in parts if part.strip(WHITESPACE))
    if not text.strip():
        raise UsageError("no SQL given (the input is empty)")
    return text


WHITESPACE = " \t\n\r"


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig", "surrogateescape")


def _stdin() -> str:
    buffer = getattr(sys.stdin, "buffer", None)
    return _decode(buffer.read()) if buffer is not None else sys.stdin.read()


def decide(args: argparse.Namespace) -> tuple[Engine, tuple[Decision, ...]]:
    policy = load_policy_arg(args.policy)
    catalog = load_catalog_args(args)
    identity = identity_from_args(args)
    engine = Engine(policy, catalog, dialect=args.dialect)
    return engine, engine.check(read_sql(args), identity)


def exit_code(decisions) -> int:
    effective = [decision.effective_action for decision in decisions]
    if Action.BLOCK in effective:
        return EXIT_BLOCKED
    if Action.REQUIRE_APPROVAL in effective:
        return EXIT_APPROVAL
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    engine, decisions = decide(args)
    if args.format == "json":
        payload = {
            "policy_version": engine.policy_version,
            "mode": engine.policy.mode,
            "dialect": args.dialect,
            "catalog_version": engine.catalog.version,
            "statements": [decision.to_dict() for decision in decisions],
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_table(decisions, engine))
    return exit_code(decisions)


def render_table(decisions, engine: Engine) -> str:
    lines = [f"policy {engine.policy_version[:19]}  mode {engine.policy.mode}"]
    header = f"{'#':>3}  {'action':<16} {'kind':<16} {'reads -> writes':<48} findings"
    lines += [header, "-" * len(header)]
    for decision in decisions:
        facts = decision.facts
        flow = f"{', '.join(facts.reads) or '-'} -> {', '.join(facts.writes) or '-'}"
        if len(flow) > 48:
            flow = flow[:45] + "..."
        action = decision.action.value + ("*" if decision.effective_action != decision.action else "")
        findings = [f for f in decision.findings if f.action != Action.ALLOW] or list(decision.findings)
        first = f"{findings[0].rule}: {findings[0].message}" if findings else ""
        lines.append(f"{decision.index:>3}  {action:<16} {facts.kind:<16} {flow:<48} {first}")
        for finding in findings[1:]:
            lines.append(f"{'':>3}  {'':<16} {'':<16} {'':<48} {finding.rule}: {finding.message}")
        if decision.masked_columns:
            masked = ", ".join(f"{column.qualified} ({column.strategy})" for column in decision.masked_columns)
            lines.append(f"{'':>3}  masked: {masked}")
    if any(d.effective_action != d.action for d in decisions):
        lines.append("* audit mode: recorded, not enforced")
    return "\n".join(lines)


def run_explain(args: argparse.Namespace) -> int:
    engine, decisions = decide(args)
    if not 0 <= args.index < len(decisions):
        raise UsageError(f"--index {args.index}: the input has {len(decisions)} statement(s)")
    decision = decisions[args.index]
    facts = decision.facts
    out = [
        f"statement {decision.index} ({facts.kind}, dialect {facts.dialect})",
        "",
        _indent(facts.sql),
        "",
        f"decision: {decision.action.value}" + (f" (audit mode: runs as allow)" if decision.effective_action != decision.action else ""),
        f"policy:   {decision.policy_version} ({decision.mode})",
        f"reads:    {', '.join(facts.reads) or '-'}",
        f"writes:   {', '.join(facts.writes) or '-'}",
    ]
    if facts.schema_changes:
        out.append("schema changes:")
        out += [f"  - {change.change}: {change.table}{'.' + change.column if change.column else ''}" for change in facts.schema_changes]
    out.append("column lineage:" if facts.lineage.edges else "column lineage: none" + (f" ({facts.lineage_note})" if facts.lineage_note else ""))
    for target, sources in facts.lineage.edges.items():
        described = ", ".join(f"{source} [{subtype.lower()}]" for source, subtype in sorted(sources.items())) or "(no source column: a constant or function)"
        out.append(f"  {target} <- {described}")
    out.append("findings:" if decision.findings else "findings: none")
    for finding in decision.findings:
        out.append(f"  - [{finding.action.value}] {finding.rule}: {finding.message}")
    if decision.masked_columns:
        out.append("masked columns:")
        out += [f"  - {column.qualified} {list(column.tags)} -> {column.strategy}" for column in decision.masked_columns]
    out += ["", "SQL to execute:" if decision.may_run else "SQL to execute: none (refused)"]
    if decision.may_run:
        out.append(_indent(decision.sql))
    print("\n".join(out))
    return exit_code([decision])


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines())
