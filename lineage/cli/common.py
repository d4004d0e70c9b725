"""Options shared by several commands: policy, catalog, dialect and identity."""

from __future__ import annotations

import argparse
import os

from lineage.decide.analysis import UnknownDialect, get_dialect
from lineage.decide.catalog import Catalog, CatalogError
from lineage.cli import UsageError
from lineage.locations import location
from lineage.identity.run_identity import RunIdentity, from_environment
from lineage.policy import LoadedPolicy, PolicyError, default_policy, load_policy


def add_policy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", default=os.environ.get("LINEAGE_POLICY"), help="policy YAML (default: $LINEAGE_POLICY, else built-in defaults)")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    add_policy_option(parser)
    parser.add_argument("--dialect", default=os.environ.get("LINEAGE_DIALECT"), help="SQL dialect: postgres, duckdb, snowflake, bigquery, ... (default: $LINEAGE_DIALECT, else the --dsn's database, else postgres)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--catalog", metavar="FILE", help="catalog JSON in sqlglot's nested mapping format")
    source.add_argument("--dsn", help="read the catalog from a live database: postgresql://... or duckdb:///path")
    parser.add_argument("--database", help="default database for unqualified tables")
    parser.add_argument("--schema", help="default schema for unqualified tables (postgres: public, duckdb: main)")
    add_identity_options(parser)


def add_identity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--principal", help="accountable identity (default: $LINEAGE_PRINCIPAL, else os:<user>)")
    parser.add_argument("--group", action="append", default=None, help="a group of the principal (repeatable; default: $LINEAGE_GROUPS)")
    parser.add_argument("--env", help="environment such as dev or prod (default: $LINEAGE_ENV, else dev)")
    parser.add_argument("--actor", help="who issues the statements on the principal's behalf, such as an AI agent (default: $LINEAGE_ACTOR)")
    parser.add_argument("--job", help="job name for the run (default: $LINEAGE_JOB_NAME, else adhoc)")
    parser.add_argument("--job-namespace", help="job namespace (default: $LINEAGE_JOB_NAMESPACE, else the OpenLineage parent's, else lineage-governance)")
    parser.add_argument("--run-id", help="reuse this run id (a UUID; default: $LINEAGE_RUN_ID, else a new UUIDv7)")


def load_policy_arg(path: str | None) -> LoadedPolicy:
    try:
        return load_policy(path) if path else default_policy()
    except PolicyError as error:
        raise UsageError(str(error)) from None


def load_catalog_args(args: argparse.Namespace) -> Catalog:
    """The catalog the options name; also settles ``args.dialect``."""
    if not args.dialect:
        args.dialect = "duckdb" if args.dsn and not location(args.dsn).is_postgres else "postgres"
    try:
        get_dialect(args.dialect)
    except UnknownDialect as error:
        raise UsageError(str(error)) from None
    try:
        if args.catalog:
            catalog = Catalog.from_json_file(args.catalog, dialect=args.dialect, default_database=args.database, default_schema=args.schema)
        elif args.dsn:
            catalog = Catalog.from_dsn(args.dsn, args.dialect)
            if args.database or args.schema:
                catalog = Catalog(catalog.tables, catalog.dialect, args.database or catalog.default_database, args.schema or catalog.default_schema, catalog.source)
        else:
            catalog = Catalog(dialect=args.dialect, default_database=args.database, default_schema=args.schema)
    except CatalogError as error:
        raise UsageError(str(error)) from None
    if args.dsn and catalog.dialect != args.dialect:
        catalog = Catalog(catalog.tables, args.dialect, catalog.default_database, catalog.default_schema, catalog.source)
    return catalog


def identity_from_args(args: argparse.Namespace, source: str = "cli") -> RunIdentity:
    try:
        return from_environment(
            principal=args.principal,
            groups=args.group,
            environment=args.env,
            source=source,
            actor=getattr(args, "actor", None),
            job_name=getattr(args, "job", None),
            job_namespace=getattr(args, "job_namespace", None),
            run_id=getattr(args, "run_id", None),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
