"""``lineage``: the command line. Each area registers its subcommands from its own module.

Exit codes: 0 fine, 1 blocked or verification failed, 2 bad input (policy, catalog,
usage), 3 approval needed.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

EXIT_OK, EXIT_BLOCKED, EXIT_BAD_INPUT, EXIT_APPROVAL = 0, 1, 2, 3

# command -> (the module whose register(subparsers) adds it, its line in `lineage --help`). Only the
# module of the command being run is imported, and the listing imports none: a command pays for
# its own imports only, and `lineage --help` for none of the analysis.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("lineage.cli.check", "decide on SQL: allow, warn, mask, require_approval or block"),
    "explain": ("lineage.cli.check", "show one statement's lineage, findings and final SQL"),
    "policy": ("lineage.cli.policy", "validate a policy file or print its JSON Schema"),
    "approvals": ("lineage.cli.approvals", "list, approve or deny approval requests"),
    "jit": ("lineage.cli.jit", "just-in-time PostgreSQL roles that expire with the run"),
    "verify-masking": ("lineage.cli.verify", "check classified columns outside their zones for raw values (Great Expectations)"),
    "report": ("lineage.cli.report", "write one self-contained HTML report from the ledger and events"),
    "demo": ("lineage.cli.demo", "run the example Airflow DAGs and dbt project on DuckDB, governed, with evidence and a report"),
    "ledger": ("lineage.cli.ledger", "verify, anchor, show or export the tamper-evident ledger"),
    "correlate": ("lineage.cli.correlate", "line a PostgreSQL csvlog up with the ledger: attributed, unattributed, divergent"),
    "exec": ("lineage.cli.execute", "run SQL on a database through the governor (policy, masking, comment, ledger)"),
    "events": ("lineage.cli.events", "OpenLineage events: validate a file, the spool's status, flush it"),
    "dbt": ("lineage.cli.dbt", "run dbt in-process with pre-flight policy checks, ledger records and per-model lineage"),
    "masking": ("lineage.cli.masking", "keyed masking in the database"),
}


def summary(command: str) -> str:
    """The command's line in `lineage --help` (its module passes it to add_parser)."""
    return COMMANDS[command][1]


class UsageError(Exception):
    """Bad input: printed as one message, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its message short
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` (its module's own subcommands), or for anything else the listing
    of every command, whose entries import nothing."""
    parser = _Parser(prog="lineage", description="Governance in front of pipeline SQL: policies, masking, ledger, lineage.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    if command in COMMANDS:
        importlib.import_module(COMMANDS[command][0]).register(subparsers)
    else:
        for name, (_, line) in COMMANDS.items():
            subparsers.add_parser(name, help=line, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``lineage`` command; ``argv`` None: the process's own command line (the console script)."""
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if own_process:
        # start-up builds what lives until the process ends (modules, classes, the parser): a
        # collection during the imports finds next to nothing, and after them each one, the last at exit
        # included, would walk it all again, which about a sixth of `lineage check`'s time went into
        gc.disable()
    try:
        # `lineage dbt` imports nothing heavy either: its sidecar loads the analysis while dbt loads
        # (see lineage.adapters.dbt.runner)
        parser = build_parser(argv[0] if argv else None)
    finally:
        if own_process:
            gc.freeze()  # ignored by later collections; what the command allocates is collected as before
            gc.enable()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UsageError as error:
        print(f"lineage: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
