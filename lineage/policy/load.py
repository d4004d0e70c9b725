"""Load a policy file with errors that name the file, the line and the key."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lineage.policy.defaults import default_policy_model

if TYPE_CHECKING:
    from lineage.policy.model import Policy

Path_ = tuple[Any, ...]


class PolicyError(Exception):
    """A policy that cannot be used. ``str()`` is one message naming file, line and key."""

    def __init__(self, file: str, problems: list[tuple[int | None, str, str]]):
        self.file = file
        self.problems = problems
        first_line, first_key, _ = problems[0]
        self.line = first_line
        self.key = first_key
        super().__init__(self._render())

    def _render(self) -> str:
        lines = []
        for line, key, message in self.problems:
            where = f"{self.file}:{line}" if line else self.file
            lines.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    version: str
    path: str | None
    raw: bytes = field(repr=False, default=b"")

    @property
    def mode(self) -> str:
        return self.policy.mode

    @property
    def base_dir(self) -> Path:
        return Path(self.path).resolve().parent if self.path else Path.cwd()


def policy_version(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_BYTES_ENV = "LINEAGE_POLICY_MAX_BYTES"
EMPTY = "the policy is empty (no keys, only comments or blank lines): it would silently mean the built-in defaults; write `version: 1` if that is what you mean"


def max_policy_bytes() -> int:
    """The largest policy file read: ``$LINEAGE_POLICY_MAX_BYTES``, else 4 MiB."""
    try:
        return int(os.environ.get(MAX_BYTES_ENV) or DEFAULT_MAX_BYTES)
    except ValueError:
        return DEFAULT_MAX_BYTES


def load_policy(path: str | Path) -> LoadedPolicy:
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > max_policy_bytes():
            raise PolicyError(str(path), [(None, "", _too_large(path.stat().st_size))])
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError(str(path), [(None, "", f"cannot read the policy file: {error.strerror or error}")]) from None
    return load_policy_text(data, str(path))


def load_policy_text(data: bytes | str, name: str = "<policy>") -> LoadedPolicy:
    """A policy from its text. An empty one (nothing but comments) is refused: ``version: 1``
    is how a policy says "the defaults", and ``default_policy()`` is the defaults without a file."""
    # here, not at the top: the default policy (no file) needs neither pydantic nor the models
    from pydantic import ValidationError

    from lineage.policy.document import DocumentError, read_document
    from lineage.policy.model import Policy

    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_policy_bytes():
        raise PolicyError(name, [(None, "", _too_large(len(raw)))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(name, [(_line_of_byte(raw, error.start), "", f"not UTF-8 text ({error.reason} at byte {error.start})")]) from None
    try:
        document, lines = read_document(text)
    except DocumentError as error:
        raise PolicyError(name, [(error.line, _key(error.path), error.message)]) from None
    if document is None or document == {}:
        raise PolicyError(name, [(1, "", EMPTY)])
    if not isinstance(document, dict):
        raise PolicyError(name, [(1, "", "the policy must be a mapping (version, mode, classifications, ...)")])
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(name, [_problem(item, lines) for item in error.errors()]) from None
    return LoadedPolicy(policy=policy, version=policy_version(raw), path=name if name != "<policy>" else None, raw=raw)


def default_policy() -> LoadedPolicy:
    """The built-in defaults, for callers given no policy file (versioned as the empty text); they
    read as ``Policy()`` without building it (``lineage.policy.defaults``)."""
    return LoadedPolicy(policy=default_policy_model(), version=policy_version(b""), path="<default policy>", raw=b"")


def _too_large(size: int) -> str:
    limit = max_policy_bytes()
    return f"the policy file is {size / 2**20:.1f} MiB, over the {limit / 2**20:.1f} MiB limit ({MAX_BYTES_ENV} raises it)"


def _line_of_byte(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _problem(item: dict[str, Any], lines: dict[Path_, int]) -> tuple[int | None, str, str]:
    location = tuple(part for part in item["loc"] if not (isinstance(part, str) and _is_union_tag(part)))
    line = None
    for size in range(len(location), -1, -1):
        if location[:size] in lines:
            line = lines[location[:size]]
            break
    message = item["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if item["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    if item["type"] == "literal_error" or item["type"] == "enum":
        message = f"{message}, got {json.dumps(item.get('input'), default=str)}"
    return line, _key(location), message


def _is_union_tag(part: str) -> bool:
    # pydantic adds the union member's type to the location, e.g. 'str' or 'list[str]'
    return part in {"str", "list[str]", "int", "float", "bool"} or part.startswith(("function-", "constrained-"))


def _key(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
