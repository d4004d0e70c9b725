"""pseudonym: a deterministic stand-in, stable per input and key: ``prefix`` + 16 hex characters
for text, a number of the same integer type for integer columns.

    pseudonym(email text, key=K, prefix='user_')  ->  'user_' || LEFT(<HMAC-SHA256 hex of email>, 16)
    'alice@example.com' -> 'user_' followed by 16 hex characters, always the same ones for this value and key
    pseudonym(customer_no integer, key=K)  ->  CAST(MOD(<60 bits of the HMAC as BIGINT>, 2147483647) AS INT)

Keyed like ``hash`` (with its own derived key, so hashes and pseudonyms of a value do not match).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from lineage.mask.strategies._common import MaskError, as_text, concat, is_integer, typed
from lineage.mask.strategies._keyed import hmac_sha256_hex

TEXT_CHARS = 16
INTEGER_HEX = 15  # 60 bits: fits a signed BIGINT in every dialect

# hex text {h} (15 characters) -> BIGINT
HEX_TO_BIGINT = {
    "postgres": "CAST(CAST('x' || h AS BIT(60)) AS BIGINT)",
    "redshift": "STRTOL(h, 16)",
    "duckdb": "CAST('0x' || h AS BIGINT)",
    "snowflake": "TO_NUMBER(h, 'XXXXXXXXXXXXXXX')",
    "bigquery": "CAST(CONCAT('0x', h) AS INT64)",
}

RANGES = {
    exp.DataType.Type.TINYINT: 127,
    exp.DataType.Type.UTINYINT: 255,
    exp.DataType.Type.SMALLINT: 32767,
    exp.DataType.Type.USMALLINT: 65535,
    exp.DataType.Type.MEDIUMINT: 8388607,
    exp.DataType.Type.INT: 2147483647,
    exp.DataType.Type.UINT: 4294967295,
}


def pseudonym(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, key: bytes, prefix: str = "") -> exp.Expression:
    digest = hmac_sha256_hex(as_text(column, dtype), key, dialect)
    if not is_integer(dtype):
        token = exp.Left(this=digest, expression=exp.Literal.number(TEXT_CHARS))
        return concat(exp.Literal.string(prefix), token) if prefix else token
    if dialect not in HEX_TO_BIGINT:
        raise MaskError(f"pseudonym has no integer form for dialect {dialect!r}")
    hex_part = exp.Left(this=digest, expression=exp.Literal.number(INTEGER_HEX))
    number = sqlglot.parse_one(HEX_TO_BIGINT[dialect], read=dialect).transform(
        lambda node: hex_part.copy() if isinstance(node, exp.Column) and node.name == "h" else node, copy=False
    )
    limit = RANGES.get(dtype.this)
    if limit is not None:
        # MOD(), not the % operator: a '%' in the SQL would break DB-API drivers that format parameters with %
        number = exp.Anonymous(this="MOD", expressions=[number, exp.Literal.number(limit)])
    return typed(number, dtype)
