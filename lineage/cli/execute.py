"""``lineage exec``: run SQL against a database through the governor (check, mask, comment, ledger).

    LINEAGE_PRINCIPAL=alice@corp lineage exec --dsn postgresql://etl@db/analytics \\
        --policy policy.yaml --sql "select email from crm.customers limit 3"

The governed counterpart of ``psql -c``: each statement is decided by the policy, stamped
with the run-identity comment, recorded in the ledger (``--ledger``, default
``$LINEAGE_LEDGER_URL``, else ``.lineage/ledger.db``) and reported as an OpenLineage run, a
child of the invocation's run (``LINEAGE_EVENTS_FILE``, and openlineage-python's configuration:
``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``, through the spool).
Rows are printed as a table or JSON.
Exit 0 when everything ran, 1 when a statement was blocked or failed, 3 when one needs
approval (the request goes to the approvals store, ``--approvals``; once approved, run again with
``--approval ID``), 2 on bad input. Statements before a refused one have run.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lineage.decide.analysis import split_statements
from lineage.decide.catalog import Catalog, CatalogError
from lineage.locations import location, without_password
from lineage.cli import EXIT_APPROVAL, EXIT_BLOCKED, EXIT_OK, UsageError, summary
from lineage.cli.check import read_sql
from lineage.cli.approval_options import add_approval_options, held_hint, open_approvals
from lineage.cli.common import add_identity_options, add_policy_option, identity_from_args, load_policy_arg
from lineage.cli.ledger import add_ledger_option
from lineage.governor import ApprovalRequired, OutcomeUnknown, StatementBlocked


def register(subparsers) -> None:
    parser = subparsers.add_parser("exec", help=summary("exec"), description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", metavar="FILE", help="SQL files (default: --sql, else stdin)")
    parser.add_argument("--sql", action="append", help="SQL text (repeatable)")
    parser.add_argument("--dsn", required=True, help="postgresql://... or duckdb:///path/to.duckdb")
    parser.add_argument("--catalog", metavar="FILE", help="catalog JSON (default: read from the database)")
    parser.add_argument("--dialect", help="SQL dialect (default: from the DSN)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    add_policy_option(parser)
    add_ledger_option(parser)
    add_approval_options(parser)
    add_identity_options(parser)
    parser.set_defaults(handler=run_exec)


def run_exec(args: argparse.Namespace) -> int:
    from lineage.adapters.dbapi import govern
    from lineage.record import LedgerError, default_url, open_ledger

    sql = read_sql(args)
    policy = load_policy_arg(args.policy)
    identity = identity_from_args(args, source="cli")
    connection, dialect = _connect(args.dsn)
    dialect = args.dialect or dialect
    try:
        catalog = Catalog.from_json_file(args.catalog, dialect=dialect) if args.catalog else None
    except CatalogError as error:
        raise UsageError(str(error)) from None
    events = _events()
    try:
        ledger = open_ledger(args.ledger or default_url())
        approvals, identity = open_approvals(policy, args, ledger, identity)
        governed = govern(connection, policy=policy, identity=identity, ledger=ledger, approvals=approvals, dialect=dialect, catalog=catalog, events=events)
    except LedgerError as error:
        connection.close()
        raise UsageError(str(error)) from None
    except UsageError:
        connection.close()
        raise
    if events is not None:
        events.engine = governed.governor.engine  # schemas and classifications for the datasets
        events.job_started(identity, JOB_TYPE)
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    failure = None
    failed_run = None  # for the invocation's FAIL event: refusals are shown without literals, database errors by kind only
    try:
        cursor = governed.cursor()
        try:
            for statement in split_statements(sql, dialect):  # one at a time, so every result is printed
                cursor.execute(statement.sql)
                results.append(_result(cursor))
        except StatementBlocked as error:
            failure = failed_run = f"lineage: {error}"
            code = EXIT_BLOCKED
        except ApprovalRequired as error:
            failure = f"lineage: {error}\n{held_hint(error.request_id)}"
            failed_run = f"lineage: {error}"
            code = EXIT_APPROVAL
        except OutcomeUnknown as error:  # it may have run: say so, and how to settle it
            failure = failed_run = f"lineage: {error}"
            code = EXIT_BLOCKED
        except Exception as error:  # the database refused it; the ledger has the failure
            failure = f"lineage: the database reported: {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            failed_run = f"a statement failed in the database ({type(error).__name__}); see its run"
            code = EXIT_BLOCKED
        if failure:
            print(failure, file=sys.stderr)
    finally:
        connection.close()
        if events is not None:
            _finish_events(events, identity, failed_run)
    if args.format == "json":
        json.dump({"run_id": identity.run_id, "principal": identity.principal, "results": results}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for result in results:
            print(_table(result))
        print(f"run {identity.run_id} ({identity.principal})", file=sys.stderr)
    return code


JOB_TYPE = "JOB"


def _events():
    """The governor's events collaborator from the environment, or None when nothing is configured."""
    from lineage.deliver.emit import emitter_from_environment
    from lineage.deliver.governance import GovernanceEvents

    emitter = emitter_from_environment()
    return GovernanceEvents(emitter) if emitter.sinks else None


def _finish_events(events, identity, failure: str | None) -> None:
    """The invocation's run ends; the spool gets its usual time to deliver before the process exits."""
    import os

    if failure is None:
        events.job_completed(identity, JOB_TYPE)
    else:
        events.job_failed(identity, JOB_TYPE, error=failure)
    events.emitter.close(timeout=float(os.environ.get("LINEAGE_EVENTS_EXIT_WAIT", "2")))


def _connect(dsn: str) -> tuple[Any, str]:
    where = location(dsn)
    if where.warehouse_kind() == "postgres":
        import psycopg

        try:
            return psycopg.connect(dsn, autocommit=True, connect_timeout=10), "postgres"
        except psycopg.Error as error:
            raise UsageError(f"{without_password(dsn)}: cannot connect: {str(error).strip().splitlines()[0]}") from None
    if where.warehouse_kind() == "duckdb":
        import duckdb

        try:
            return duckdb.connect(str(where.path)), "duckdb"
        except duckdb.Error as error:
            raise UsageError(f"{dsn}: cannot open: {error}") from None
    raise UsageError(f"{without_password(dsn)}: not a PostgreSQL (postgresql://...) or DuckDB (duckdb:///path) DSN")


def _result(cursor: Any) -> dict[str, Any]:
    description = getattr(cursor, "description", None)
    if not description:
        rowcount = getattr(cursor, "rowcount", -1)
        return {"columns": [], "rows": [], "rowcount": rowcount if isinstance(rowcount, int) and rowcount >= 0 else None}
    rows = [list(row) for row in cursor.fetchall()]
    return {"columns": [column[0] for column in description], "rows": rows, "rowcount": len(rows)}


def _table(result: dict[str, Any]) -> str:
    if not result["columns"]:
        return f"ok ({result['rowcount']} row(s))" if result["rowcount"] is not None else "ok"
    cells = [[str(value) if value is not None else "NULL" for value in row] for row in result["rows"]]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(result["columns"])]
    lines = ["  ".join(name.ljust(width) for name, width in zip(result["columns"], widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in cells]
    lines.append(f"({len(cells)} row(s))")
    return "\n".join(lines)
