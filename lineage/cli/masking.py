"""``lineage masking install``: put the masking key and its functions into PostgreSQL, once, as an administrator.

    lineage masking install --dsn postgresql://admin@db/warehouse [--grant etl_role] [--key-env LINEAGE_MASKING_KEY]

Then the policy says ``masking.hash_key: {database: lineage_mask}``: masked SQL calls
``lineage_mask.hmac_sha256_hex(...)`` and carries no key material. Without ``--key-env`` /
``--key-file`` the key is made in the database and never leaves it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lineage.locations import without_password
from lineage.cli import EXIT_OK, UsageError, summary
from lineage.mask.install import DEFAULT_SCHEMA
from lineage.mask.keys import KeyUnavailable, load_key


def register(subparsers) -> None:
    masking = subparsers.add_parser("masking", help=summary("masking"))
    commands = masking.add_subparsers(dest="masking_command", metavar="COMMAND")
    commands.required = True
    install = commands.add_parser("install", help="install the key and its SECURITY DEFINER function in PostgreSQL (run as an administrator)")
    install.add_argument("--dsn", required=True, help="postgresql://... of a role that owns the schema (never a pipeline role)")
    install.add_argument("--schema", default=DEFAULT_SCHEMA, help=f"schema for the key and functions (default {DEFAULT_SCHEMA}; the policy's masking.hash_key.database)")
    source = install.add_mutually_exclusive_group()
    source.add_argument("--key-env", metavar="VAR", help="import the master key from this environment variable (hashes then match masking.hash_key env/file)")
    source.add_argument("--key-file", metavar="PATH", help="import the master key from this file")
    install.add_argument("--rotate", action="store_true", help="replace an installed key (every hash and pseudonym changes)")
    install.add_argument("--grant", action="append", metavar="ROLE", help="roles that may run masked statements (repeatable; default PUBLIC)")
    install.set_defaults(handler=run_install)


def run_install(args: argparse.Namespace) -> int:
    import psycopg

    from lineage.mask.install import install
    from lineage.policy.model import KeySource

    from lineage.locations import location

    if not location(args.dsn).is_postgres:
        raise UsageError(f"{without_password(args.dsn)}: keyed masking functions need PostgreSQL (DuckDB has no roles to keep the key from a session)")
    try:
        KeySource(database=args.schema)
    except ValueError as error:
        raise UsageError(f"--schema: {error.errors()[0]['msg'] if hasattr(error, 'errors') else error}") from None
    master = None
    if args.key_env or args.key_file:
        try:
            source = KeySource(env=args.key_env) if args.key_env else KeySource(file=str(Path(args.key_file).resolve()))
            master = load_key(source, environ=os.environ)
        except KeyUnavailable as error:
            raise UsageError(str(error)) from None
    try:
        connection = psycopg.connect(args.dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as error:
        raise UsageError(f"{without_password(args.dsn)}: cannot connect: {str(error).strip().splitlines()[0]}") from None
    try:
        done = install(connection, args.schema, master, rotate=args.rotate, grant=args.grant or ("PUBLIC",))
    except psycopg.errors.InsufficientPrivilege as error:
        raise UsageError(f"{without_password(args.dsn)}: {str(error).strip().splitlines()[0]} (run as the schema's owner; importing a key also needs the right to turn statement logging off)") from None
    except psycopg.Error as error:
        raise UsageError(f"{without_password(args.dsn)}: {str(error).strip().splitlines()[0]}") from None
    finally:
        connection.close()
    print(f"lineage: masking key {done.key} in schema {done.schema}; {done.schema}.hmac_sha256_hex granted to {', '.join(done.granted)}")
    print(f"lineage: the key is readable by {', '.join(done.readers)} only: pipeline roles must be none of them")
    print(f"lineage: in the policy, masking: {{hash_key: {{database: {done.schema}}}}}")
    return EXIT_OK
