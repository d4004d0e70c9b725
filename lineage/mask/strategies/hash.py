"""hash: keyed HMAC-SHA256 of the value as lower-case hex, cut to ``length`` characters (8..64).

    hash(ssn text, key=K, length=16)
      ->  LEFT(ENCODE(SHA256(DECODE('<k^opad>', 'hex') || SHA256(DECODE('<k^ipad>', 'hex') || CONVERT_TO(ssn, 'UTF8'))), 'hex'), 16)
    '123-45-6789' -> 16 hex characters, the same under the same key in every supported database

Equal values hash equally (joins and counts of distinct values still work); without the key
a guess cannot be checked. The key never comes from the policy text (``masking.hash_key``);
the result is text.
"""

from __future__ import annotations

from sqlglot import exp

from lineage.mask.strategies._common import as_text
from lineage.mask.strategies._keyed import hmac_sha256_hex

FULL = 64


def hash(column: exp.Expression, dtype: exp.DataType | None, dialect: str, *, key: bytes, length: int = FULL) -> exp.Expression:
    digest = hmac_sha256_hex(as_text(column, dtype), key, dialect)
    return digest if length >= FULL else exp.Left(this=digest, expression=exp.Literal.number(length))
