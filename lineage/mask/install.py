"""Keyed masking functions in PostgreSQL, installed once by an administrator: the key never
stands in the SQL a masked session runs (and could read back), only a function call does.

    lineage masking install --dsn postgresql://admin@db/warehouse      # policy: masking.hash_key: {database: lineage_mask}
    -> schema lineage_mask: table master_key (the key's HMAC pads, readable by its owner only),
       function hmac_sha256_hex(value, strategy, tag), SECURITY DEFINER, EXECUTE granted to the pipeline roles

    hash(ssn) = LEFT(lineage_mask.hmac_sha256_hex(CAST(ssn AS TEXT), 'hash', 'pii.ssn'), 16)

The function derives the (strategy, tag) key from the master key exactly as
``lineage.mask.keys.derive_key`` does, so with the same master key the values equal those
masked with ``masking.hash_key: {env: ...}``. The master key is made inside the database
(``gen_random_uuid``, a strong random source) unless one is imported; an imported key is sent
as a bind parameter with statement and parameter logging off for that transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlglot import exp

from lineage.mask.keys import CONTEXT

DEFAULT_SCHEMA = "lineage_mask"
FUNCTION = "hmac_sha256_hex"
IPAD, OPAD = 0x3636363636363636, 0x5C5C5C5C5C5C5C5C


@dataclass(frozen=True)
class KeyFunction:
    """Where a keyed mask gets its HMAC: the installed function, for one strategy and tag."""

    schema: str
    strategy: str
    tag: str

    def call(self, text: exp.Expression) -> exp.Expression:
        function = exp.Anonymous(this=FUNCTION, expressions=[text, exp.Literal.string(self.strategy), exp.Literal.string(self.tag)])
        return exp.Dot(this=exp.to_identifier(self.schema), expression=function)


def _xor_block(schema: str) -> str:
    """A 32-byte derived key, XOR-ed with a pad byte and padded to HMAC's 64-byte block (RFC 2104)."""
    words = " || ".join(
        f"lpad(to_hex(('x' || encode(substr(d, {start}, 8), 'hex'))::bit(64)::bigint # pad), 16, '0')" for start in (1, 9, 17, 25)
    )
    return f"""
CREATE OR REPLACE FUNCTION {schema}.xor_block(d bytea, pad bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT decode({words} || repeat(lpad(to_hex(pad), 16, '0'), 4), 'hex')
$$"""


def install_statements(schema: str = DEFAULT_SCHEMA) -> list[str]:
    """The DDL (idempotent); the key is written separately."""
    context = CONTEXT.decode()
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
        f"CREATE TABLE IF NOT EXISTS {schema}.master_key (only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one), "
        "inner_pad bytea NOT NULL, outer_pad bytea NOT NULL, created timestamptz NOT NULL DEFAULT now())",
        f"REVOKE ALL ON TABLE {schema}.master_key FROM PUBLIC",
        _xor_block(schema),
        f"""
CREATE OR REPLACE FUNCTION {schema}.{FUNCTION}(value text, strategy text, tag text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT encode(sha256({schema}.xor_block(d, {OPAD}) || sha256({schema}.xor_block(d, {IPAD}) || convert_to(value, 'UTF8'))), 'hex')
  FROM (SELECT sha256(k.outer_pad || sha256(k.inner_pad || convert_to('{context}', 'UTF8') || '\\x00'::bytea
                      || convert_to(strategy, 'UTF8') || '\\x00'::bytea || convert_to(tag, 'UTF8'))) AS d
        FROM {schema}.master_key AS k) AS derived
$$""",
        f"REVOKE ALL ON FUNCTION {schema}.{FUNCTION}(text, text, text) FROM PUBLIC",
    ]


# the master key's pads, made in the database: 3 x 122 random bits from its strong random source
GENERATE = (
    "INSERT INTO {schema}.master_key (inner_pad, outer_pad) "
    "SELECT {schema}.xor_block(m, {ipad}), {schema}.xor_block(m, {opad}) "
    "FROM (SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')) AS m) AS g "
    "ON CONFLICT (only_one) DO {conflict}"
)
IMPORT = (
    "INSERT INTO {schema}.master_key (inner_pad, outer_pad) VALUES (%s, %s) "
    "ON CONFLICT (only_one) DO {conflict}"
)
# the imported key travels as bind parameters: keep it out of the server log
QUIET = [
    "SET LOCAL log_statement = 'none'",
    "SET LOCAL log_min_duration_statement = -1",
    "SET LOCAL log_min_error_statement = 'panic'",
    "SET LOCAL log_parameter_max_length = 0",
    "SET LOCAL log_parameter_max_length_on_error = 0",
    "SET LOCAL log_duration = off",
]


@dataclass(frozen=True)
class Installed:
    schema: str
    key: str  # "generated", "imported", "kept" or "rotated"
    granted: tuple[str, ...]
    readers: tuple[str, ...]  # roles that can read the key table (its owner, superusers)


def install(connection: Any, schema: str = DEFAULT_SCHEMA, master: bytes | None = None, rotate: bool = False, grant: Iterable[str] = ("PUBLIC",)) -> Installed:
    """Create (or update) the schema, key and functions in one transaction on a psycopg connection."""
    from psycopg import sql

    from lineage.mask.strategies._keyed import padded_keys

    name = sql.Identifier(schema).as_string(connection)
    conflict = "UPDATE SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad, created = now()" if rotate else "NOTHING"
    grantees = tuple(grant) or ("PUBLIC",)
    with connection.transaction():
        existed = _has_key(connection, name)
        for statement in install_statements(name):
            connection.execute(statement)
        if master is not None:
            for statement in QUIET:
                connection.execute(statement)
            inner, outer = padded_keys(master)
            connection.execute(IMPORT.format(schema=name, conflict=conflict), (bytes.fromhex(inner), bytes.fromhex(outer)))
        else:
            connection.execute(GENERATE.format(schema=name, ipad=IPAD, opad=OPAD, conflict=conflict))
        for grantee in grantees:
            role = "PUBLIC" if grantee.upper() == "PUBLIC" else sql.Identifier(grantee).as_string(connection)
            connection.execute(f"GRANT USAGE ON SCHEMA {name} TO {role}")
            connection.execute(f"GRANT EXECUTE ON FUNCTION {name}.{FUNCTION}(text, text, text) TO {role}")
        readers = connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolsuper OR pg_has_role(rolname, "
            "(SELECT relowner FROM pg_class WHERE oid = %s::regclass), 'MEMBER') ORDER BY 1",
            (f"{name}.master_key",),
        ).fetchall()
    state = ("rotated" if rotate else "kept") if existed else ("imported" if master is not None else "generated")
    return Installed(schema, state, grantees, tuple(row[0] for row in readers))


def _has_key(connection: Any, name: str) -> bool:
    if not connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{name}.master_key",)).fetchone()[0]:
        return False
    return connection.execute(f"SELECT EXISTS (SELECT FROM {name}.master_key)").fetchone()[0]
