"""``lineage verify-masking``: prove with Great Expectations that no raw PII sits outside its zones."""

from __future__ import annotations

import argparse
import json

from lineage.decide.catalog import Catalog, CatalogError
from lineage.decide.classify import Classifier
from lineage.cli import EXIT_BLOCKED, EXIT_OK, UsageError, summary
from lineage.cli.common import add_identity_options, add_policy_option, identity_from_args, load_policy_arg


def register(subparsers) -> None:
    verify = subparsers.add_parser("verify-masking", help=summary("verify-masking"))
    verify.add_argument("--dsn", required=True, help="postgresql://... or duckdb:///path")
    verify.add_argument("--table", action="append", help="only these tables (repeatable; default: every table in the catalog)")
    verify.add_argument("--format", choices=("table", "json"), default="table")
    verify.add_argument("--ledger", metavar="URL", help="ledger for the evidence (default: $LINEAGE_LEDGER_URL)")
    verify.add_argument("--events", metavar="FILE.jsonl", help="also write the dataQualityAssertions events here (default: $LINEAGE_EVENTS_FILE; OPENLINEAGE_URL sends them to Marquez)")
    add_policy_option(verify)
    add_identity_options(verify)
    verify.set_defaults(handler=run_verify)


def verify(dsn: str, policy, tables=None, classifier: Classifier | None = None, ledger=None):
    """Run the checks for a DSN; returns (VerificationResult, catalog).

    With a ledger, columns derived from classified ones (by the statements it records) are
    checked too, under their sources' tags.
    """
    from lineage.evidence.verify_masking import classifications_from_ledger, verify_duckdb, verify_postgres

    classifier = classifier or Classifier.from_policy(policy.policy)
    try:
        catalog = Catalog.from_dsn(dsn)
    except CatalogError as error:
        raise UsageError(str(error)) from None
    if ledger is not None:
        classifier = classifications_from_ledger(ledger, catalog, classifier)
    if catalog.dialect == "postgres":
        return verify_postgres(dsn, policy.policy, classifier, catalog, tables), catalog
    import duckdb

    from lineage.locations import location

    with duckdb.connect(str(location(dsn).path), read_only=True) as connection:
        return verify_duckdb(connection, policy.policy, classifier, catalog, tables), catalog


def run_verify(args: argparse.Namespace) -> int:
    from lineage.deliver.emit import emitter_from_environment
    from lineage.record import open_ledger
    from lineage.evidence.verify_masking import record

    policy = load_policy_arg(args.policy)
    ledger = open_ledger(args.ledger)
    result, catalog = verify(args.dsn, policy, args.table, ledger=ledger)
    identity = identity_from_args(args).with_(job_name="verify_masking")
    emitter = emitter_from_environment(jsonl=args.events)
    record(result, identity, ledger, emitter, _namespace(args.dsn, catalog))
    emitter.close()
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        if not result.checks:
            print("nothing to verify: no classified column lies outside its allowed zones")
        for check in result.checks:
            verdict = "ok  " if check.success else "RAW "
            print(f"{verdict} {check.table}.{check.column} ({check.tag}): {check.unexpected} raw-looking value(s) of {check.rows}")
        for note in result.skipped:
            print(f"skip {note}")
    return EXIT_OK if result.success else EXIT_BLOCKED


def _namespace(dsn: str, catalog) -> str:
    from lineage.deliver.naming import duckdb_namespace, postgres_context

    if catalog.dialect == "postgres":
        return postgres_context(dsn)[0]
    from lineage.locations import location

    return duckdb_namespace(str(location(dsn).path))
