"""One YAML document, read within limits, with the line of every value.

    read_document("mode: audit\\n")  ->  ({"mode": "audit"}, {(): 1, ("mode",): 1})

YAML can spell far more than its size suggests: aliases expand (a 1 KB "billion laughs" file
stands for 10^9 values), collections nest without end, an alias can sit inside its own anchor.
The reader builds values straight from the parser's events with its own stack (no recursion,
so no input reaches a recursion limit) and refuses, naming the line: nesting deeper than
``MAX_DEPTH``, aliases (merge keys included) standing for more than ``MAX_ALIASED`` values in
all, an alias inside its own anchor, tags other than YAML's plain ones, keys that are not plain
scalars, duplicate keys, and a merge key (``<<``) whose value is not a mapping or a list of
mappings. An alias reuses the anchored value; only its size is counted. The byte size is the
caller's to limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_DEPTH = 64  # a policy is about six levels deep
MAX_ALIASED = 10_000  # values that aliases stand for, in all

Path_ = tuple[Any, ...]
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
COLLECTION_TAGS = (None, "!", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: the same events, faster
_NO_KEY = object()
_MERGE = object()


class DocumentError(Exception):
    """A document the reader refuses: ``line`` (1-based, or None), ``path`` of the key, ``message``."""

    def __init__(self, line: int | None, path: Path_, message: str):
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message


def read_document(text: str) -> tuple[Any, dict[Path_, int]]:
    """The document's value (None when it holds nothing) and each key path's line."""
    parser = _Parser(text)
    reader = _Reader()
    try:
        while parser.check_event():
            reader.take(parser.get_event())
    except yaml.YAMLError as error:
        raise _yaml_error(error, text) from None
    finally:
        parser.dispose()
        reader.constructor.dispose()
    return reader.document, reader.lines


def _yaml_error(error: yaml.YAMLError, text: str) -> DocumentError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if error.context_mark is not None and mark is not None and mark.line >= len(text.splitlines()):
            mark = error.context_mark  # "got <stream end>": point at what was left open
        return DocumentError(mark.line + 1 if mark else None, (), f"not valid YAML: {error.problem or error}")
    return DocumentError(None, (), f"not valid YAML: {error}")


@dataclass
class _Open:
    """A list or mapping being read."""

    path: Path_
    line: int
    anchor: str | None
    value: Any
    size: int = 1
    key: Any = _NO_KEY  # a mapping's key waiting for its value
    merged: dict = field(default_factory=dict)


class _Reader:
    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self.constructor = yaml.SafeLoader("")  # resolves and constructs scalars exactly as safe_load
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.aliased = 0
        self.documents = 0
        self.document: Any = None

    def take(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise DocumentError(event.start_mark.line + 1, (), "not valid YAML: expected a single document, found another")
            return
        if isinstance(event, yaml.CollectionEndEvent):
            done = self.stack.pop()
            value = {**done.merged, **done.value} if isinstance(done.value, dict) else done.value  # written-out keys win
            self._anchor(done.anchor, value, done.size)
            self._add(value, done.size, done.line)
            return
        if not isinstance(event, yaml.NodeEvent):
            return  # stream and document ends
        line = event.start_mark.line + 1
        path = self._child_path(event, line)
        if isinstance(event, yaml.AliasEvent):
            value, size = self._alias(event.anchor, line, path)
            self._add(value, size, line)
            return
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, line, path)
            if self.stack and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is _NO_KEY:
                self._set_key(value, event, line)
                return
            self.lines.setdefault(path, line)  # a mapping value keeps its key's line
            self._anchor(event.anchor, value, 1)
            self._add(value, 1, line)
            return
        if event.tag not in COLLECTION_TAGS:
            raise DocumentError(line, path, f"not valid YAML: the tag {event.tag!r} is not allowed (plain lists and mappings only)")
        if len(self.stack) >= MAX_DEPTH:
            raise DocumentError(line, path, f"nested more than {MAX_DEPTH} levels deep")
        if event.anchor is not None:
            self.anchors.pop(event.anchor, None)  # open: an alias to it from inside is recursion
        self.lines.setdefault(path, line)
        self.stack.append(_Open(path, line, event.anchor, {} if isinstance(event, yaml.MappingStartEvent) else []))

    # -- where a value goes ----------------------------------------------------------------

    def _child_path(self, event: yaml.NodeEvent, line: int) -> Path_:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),)
        if parent.key is _NO_KEY:  # a mapping's key
            if not isinstance(event, yaml.ScalarEvent):
                raise DocumentError(line, parent.path, "keys must be plain words")
            return parent.path
        return parent.path if parent.key is _MERGE else parent.path + (parent.key,)

    def _set_key(self, key: Any, event: yaml.ScalarEvent, line: int) -> None:
        parent = self.stack[-1]
        if self._tag(event) == MERGE_TAG:
            parent.key = _MERGE
            return
        if key is None or not isinstance(key, (str, int, float, bool)):
            raise DocumentError(line, parent.path, "keys must be plain words")
        if key in parent.value:
            raise DocumentError(line, parent.path + (key,), "duplicate key (YAML keeps only the last one)")
        parent.key = key
        self.lines[parent.path + (key,)] = line

    def _add(self, value: Any, size: int, line: int) -> None:
        if not self.stack:
            self.document = value
            return
        parent = self.stack[-1]
        parent.size += size
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.key is _MERGE:
            for source in value if isinstance(value, list) else [value]:
                if not isinstance(source, dict):
                    raise DocumentError(line, parent.path, "a merge key (<<) takes a mapping or a list of mappings")
                for key, item in source.items():
                    parent.merged.setdefault(key, item)  # YAML: the first mapping merged wins
            parent.key = _NO_KEY
        else:
            parent.value[parent.key] = value
            parent.key = _NO_KEY

    # -- anchors and aliases ---------------------------------------------------------------

    def _anchor(self, anchor: str | None, value: Any, size: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)

    def _alias(self, anchor: str, line: int, path: Path_) -> tuple[Any, int]:
        if anchor not in self.anchors:
            if any(open_.anchor == anchor for open_ in self.stack):
                raise DocumentError(line, path, "an alias refers to its own anchor (a recursive document)")
            raise DocumentError(line, path, f"not valid YAML: found undefined alias {anchor!r}")
        value, size = self.anchors[anchor]
        self.aliased += size
        if self.aliased > MAX_ALIASED:
            raise DocumentError(line, path, f"aliases expand to more than {MAX_ALIASED:,} values (write them out, or anchor less)")
        return value, size

    # -- scalars ---------------------------------------------------------------------------

    def _tag(self, event: yaml.ScalarEvent) -> str:
        if event.tag is None or event.tag == "!":
            return self.constructor.resolve(yaml.ScalarNode, event.value, event.implicit)
        return event.tag

    def _scalar(self, event: yaml.ScalarEvent, line: int, path: Path_) -> Any:
        tag = self._tag(event)
        if tag == STR_TAG:
            return event.value
        if tag == MERGE_TAG:
            return event.value  # only meaningful as a key; _set_key handles it
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error)
            raise DocumentError(line, path, f"not valid YAML: {problem}") from None
