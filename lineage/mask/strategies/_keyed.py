"""HMAC-SHA256 in SQL, from each database's own SHA-256 (PostgreSQL needs no pgcrypto).

    HMAC(k, m) = SHA256((k xor opad) || SHA256((k xor ipad) || m))

The two padded keys are computed here and appear in the SQL as hex literals; from them the
(derived, per-tag) key can be recovered, so the SQL is as secret as that derived key. The
master key never appears (see ``lineage.mask.keys``). With the key installed in PostgreSQL
(``lineage.mask.install``) the SQL calls the installed function instead and carries no key.
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from lineage.mask.strategies._common import MaskError

BLOCK = 64

# {i}/{o}: padded keys as hex text, {v}: the value as text; parsed in the dialect they are written for
TEMPLATES = {
    "postgres": "ENCODE(SHA256(DECODE(o, 'hex') || SHA256(DECODE(i, 'hex') || CONVERT_TO(v, 'UTF8'))), 'hex')",
    "redshift": "ENCODE(SHA256(DECODE(o, 'hex') || SHA256(DECODE(i, 'hex') || CONVERT_TO(v, 'UTF8'))), 'hex')",
    "duckdb": "SHA256(UNHEX(o) || UNHEX(SHA256(UNHEX(i) || ENCODE(v))))",
    "snowflake": "SHA2(TO_BINARY(o, 'HEX') || SHA2_BINARY(TO_BINARY(i, 'HEX') || TO_BINARY(v, 'UTF-8'), 256), 256)",
    "bigquery": "TO_HEX(SHA256(CONCAT(FROM_HEX(o), SHA256(CONCAT(FROM_HEX(i), CAST(v AS BYTES))))))",
}


def padded_keys(key: bytes) -> tuple[str, str]:
    """(inner, outer) padded keys as hex, per RFC 2104."""
    if len(key) > BLOCK:
        import hashlib

        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


@functools.lru_cache(maxsize=None)
def _template(dialect: str) -> exp.Expression:
    if dialect not in TEMPLATES:
        raise MaskError(f"keyed strategies (hash, pseudonym) have no SQL for dialect {dialect!r} (known: {', '.join(TEMPLATES)})")
    return sqlglot.parse_one(TEMPLATES[dialect], read=dialect)


def hmac_sha256_hex(text: exp.Expression, key, dialect: str) -> exp.Expression:
    """Lower-case hex HMAC-SHA256 of the text expression under ``key``: the derived key's bytes
    (its pads go into the SQL), or a ``lineage.mask.install.KeyFunction`` (the installed
    function computes it; the SQL carries no key material)."""
    if not isinstance(key, bytes):
        return key.call(text)
    inner, outer = padded_keys(key)
    values = {"i": exp.Literal.string(inner), "o": exp.Literal.string(outer), "v": text}

    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in values:
            return values[node.name].copy()
        return node

    return _template(dialect).copy().transform(fill, copy=False)
