"""The key of the keyed strategies (``hash``, ``pseudonym``): read from where the policy says,
never from the policy text, and never put into SQL as is.

    masking: {hash_key: {env: LINEAGE_MASKING_KEY}}       # or {file: secrets/masking.key}

Each (strategy, tag) pair gets its own key, HMAC-SHA256(master key, "lineage-governance
mask v1" | strategy | tag); only that derived key (as HMAC pads) reaches the database. So
the SQL of one statement, in a server log for example, exposes the derived key of the tags
it masks (enough to test guesses for those columns), but not the master key and not other
tags' keys. Equal values of one tag hash equally in every table, so joins on hashes work.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

MIN_KEY_BYTES = 16
CONTEXT = b"lineage-governance mask v1"


class KeyUnavailable(Exception):
    """No usable key: the statement that needs one is refused (never hashed without a key)."""


def load_key(source, policy_dir: Path | None = None, environ=os.environ) -> bytes:
    """The master key bytes from ``masking.hash_key`` (env var or file, surrounding whitespace stripped)."""
    if source is None:
        raise KeyUnavailable("the policy has no masking.hash_key")
    if source.env is not None:
        value = environ.get(source.env)
        if value is None:
            raise KeyUnavailable(f"the environment variable {source.env} (masking.hash_key.env) is not set")
        key = value.strip().encode()
        where = f"the environment variable {source.env}"
    else:
        path = Path(source.file)
        if not path.is_absolute() and policy_dir is not None:
            path = policy_dir / path
        try:
            key = path.read_bytes().strip()
        except OSError as error:
            raise KeyUnavailable(f"cannot read the key file {path} (masking.hash_key.file): {error.strerror or error}") from None
        where = f"the key file {path}"
    if len(key) < MIN_KEY_BYTES:
        raise KeyUnavailable(f"{where} holds {len(key)} bytes; a masking key needs at least {MIN_KEY_BYTES}")
    return key


def derive_key(master: bytes, strategy: str, tag: str) -> bytes:
    """The key one strategy uses for one tag."""
    return hmac.new(master, CONTEXT + b"\0" + strategy.encode() + b"\0" + tag.encode(), hashlib.sha256).digest()
