"""``lineage``: the command line. Each area registers its subcommands from its own module.

Exit codes: 0 fine, 1 blocked or verification failed, 2 bad input (policy, catalog,
usage), 3 approval needed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXIT_OK, EXIT_BLOCKED, EXIT_BAD_INPUT, EXIT_APPROVAL = 0, 1, 2, 3

# modules with a register(subparsers) function; each adds its own subcommands
COMMAND_MODULES = [
    "lineage.cli.check",
    "lineage.cli.policy",
    "lineage.cli.approvals",
    "lineage.cli.jit",
    "lineage.cli.verify",
    "lineage.cli.report",
    "lineage.cli.demo",
    "lineage.cli.ledger",
    "lineage.cli.correlate",
    "lineage.cli.execute",
    "lineage.cli.events",
    "lineage.cli.dbt",
    "lineage.cli.masking",
]


class UsageError(Exception):
    """Bad input: printed as one message, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its message short
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser(modules: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="lineage", description="Governance in front of pipeline SQL: policies, masking, ledger, lineage.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in modules or COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `lineage dbt` wraps a whole dbt run: it registers only itself and imports nothing heavy,
    # so its sidecar loads the analysis while dbt loads (see lineage.adapters.dbt.runner)
    parser = build_parser(["lineage.cli.dbt"] if argv[:1] == ["dbt"] else None)
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
