"""file_read: the database reads a file: ``COPY ... FROM '<file>'`` (PostgreSQL: a file on the
server; DuckDB: any file the pipeline's own process may read), DuckDB's ``FROM 'data.csv'``, and
the file functions (``read_csv``, ``read_text``, ``pg_read_file``, ...: ``analysis/file_calls.py``).

    COPY loot FROM '/etc/lineage/masking.key'
    -> file_read (block): reads the file /etc/lineage/masking.key, which is not governed ...

A file is no relation the policy classifies: what it holds (the masking key, another system's
data) comes back ungoverned. Only files under ``allowlist.files`` (globs of the path as the
statement names it) may be read, never the masking key file (``masking.hash_key.file``).
The rule cannot be lowered: the allowlist is how to allow a file.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Iterator

from lineage.decide.analysis.file_calls import COMPUTED
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext

KEY = "allowlist.files"


def _key_file(context: RuleContext) -> Path | None:
    source = context.policy.masking.hash_key
    file = getattr(source, "file", None) if source is not None else None
    if not file:
        return None
    path = Path(file).expanduser()
    if not path.is_absolute() and context.policy_dir is not None:
        path = Path(context.policy_dir) / path
    return path.resolve()


def _is_key(path: str, key: Path | None) -> bool:
    if key is None or "://" in path:
        return False
    try:
        return Path(path).expanduser().resolve() == key
    except (OSError, RuntimeError, ValueError):
        return True  # a path that cannot be resolved cannot be shown not to be the key


def _allowed(path: str, globs: list[str]) -> bool:
    if path == COMPUTED:
        return False
    normal = path if "://" in path else os.path.normpath(path)
    return ".." not in Path(normal).parts and any(fnmatch.fnmatchcase(normal, glob) for glob in globs)


def file_read(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    key = _key_file(context)
    globs = list(context.policy.allowlist.files)
    for path in facts.files_read:
        if _is_key(path, key):
            yield Finding("file_read", f"reads the masking key file {path}: the key of the keyed masks is never read through SQL", path)
        elif not _allowed(path, globs):
            yield Finding(
                "file_read",
                f"reads the file {path}, which is not governed (its contents come back unclassified and unmasked); "
                f"load through COPY ... FROM STDIN, or list the file under {KEY} in the policy",
                path,
            )
