"""Load a policy file with errors that name the file, the line and the key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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


def load_policy(path: str | Path) -> LoadedPolicy:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PolicyError(str(path), [(None, "", f"cannot read the policy file: {error.strerror or error}")]) from None
    return load_policy_text(data, str(path))


def load_policy_text(data: bytes | str, name: str = "<policy>") -> LoadedPolicy:
    raw = data.encode() if isinstance(data, str) else data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(name, [(None, "", f"not UTF-8 text ({error.reason} at byte {error.start})")]) from None
    document, lines = _compose(text, name)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise PolicyError(name, [(1, "", "the policy must be a mapping (version, mode, classifications, ...)")])
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(name, [_problem(item, lines) for item in error.errors()]) from None
    return LoadedPolicy(policy=policy, version=policy_version(raw), path=name if name != "<policy>" else None, raw=raw)


def _compose(text: str, name: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML keeping each value's line, and refuse duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if error.context_mark is not None and mark is not None and mark.line >= len(text.splitlines()):
            mark = error.context_mark  # "got <stream end>": point at what was left open
        line = mark.line + 1 if mark else None
        raise PolicyError(name, [(line, "", f"not valid YAML: {error.problem or error}")]) from None
    except yaml.YAMLError as error:
        raise PolicyError(name, [(None, "", f"not valid YAML: {error}")]) from None
    finally:
        loader.dispose()
    if node is None:
        return None, {}
    lines: dict[Path_, int] = {}
    constructor = yaml.SafeLoader("")
    try:
        return _build(node, (), lines, constructor, name), lines
    finally:
        constructor.dispose()


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], constructor: yaml.SafeLoader, name: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise PolicyError(name, [(key_node.start_mark.line + 1, _key(path), "keys must be plain words")])
            if key in out:
                raise PolicyError(
                    name, [(key_node.start_mark.line + 1, _key(path + (key,)), "duplicate key (YAML keeps only the last one)")]
                )
            out[key] = _build(value_node, path + (key,), lines, constructor, name)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (index,), lines, constructor, name) for index, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


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
