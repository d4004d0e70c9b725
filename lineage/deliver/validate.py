"""Validate OpenLineage events: the spec, every facet against its own schema, and Marquez's rules.

    validate_event(event)                     -> ["run.facets.parent.run.runId: 'x' is not a 'uuid'", ...]
    validate_lines(open("events.jsonl"))      -> [(3, "eventType is missing ..."), ...]

Three layers, all offline:

1. the core schema (``spec/OpenLineage.json``, Draft 2020-12, formats checked) for the event;
2. each facet against the schema for its location and key (the core schema checks facets only
   as BaseFacet), our ``lineageGovernance_*`` facets against ``schemas/``;
3. Marquez's rules (``lineage.deliver.marquez``, described in docs/marquez.md); over a file, also the
   rules that span the events of one run (datasets repeated, parent on every event, each event once).

Other producers' events (the Airflow OpenLineage provider's, with its ``airflow*`` facets and
column lineage without descriptions) are checked as the spec and Marquez check them: the core
schema, each standard facet's schema, and the rules Marquez refuses events for. Our own events,
and our ``lineageGovernance_*`` facets wherever they appear, are held to everything.
"""

from __future__ import annotations

import functools
import json
from typing import Iterable, Iterator

from jsonschema import Draft202012Validator

from lineage.deliver.marquez import RunHistory, event_checks, stream_checks
from lineage.deliver.marquez.common import facets
from lineage.deliver.registry import CORE_ID, schema_set

FACET_PREFIX = "lineageGovernance_"


def _path(prefix: str, error) -> str:
    parts = [prefix] if prefix else []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]"]
        else:
            parts.append(str(part))
    return ".".join(parts) or "(event)"


def _message(error) -> str:
    if error.context:
        best = min(error.context, key=lambda sub: len(list(sub.absolute_path)) * -1)
        return f"{error.message} ({best.message})"
    return error.message


class Validator:
    def __init__(self):
        self.schemas = schema_set()
        self._validators: dict[str, Draft202012Validator] = {}
        self.runs: dict[str, RunHistory] = {}

    def _validator(self, ref: str) -> Draft202012Validator:
        validator = self._validators.get(ref)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": ref}, registry=self.schemas.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            self._validators[ref] = validator
        return validator

    def spec_problems(self, event: dict) -> Iterator[str]:
        if "dataset" in event:
            kind = "DatasetEvent"
        elif "run" in event or "eventType" in event or "job" not in event:
            kind = "RunEvent"
        else:
            kind = "JobEvent"
        for error in sorted(self._validator(f"{CORE_ID}#/$defs/{kind}").iter_errors(event), key=lambda e: list(map(str, e.absolute_path))):
            yield f"{_path('', error)}: {_message(error)}"

    def facet_problems(self, event: dict) -> Iterator[str]:
        for where, location, key, facet in facets(event):
            if not isinstance(facet, dict):
                continue  # the core schema reports it
            ref = self.schemas.facets.get((location, key))
            if ref is None:
                elsewhere = sorted(loc for loc, known in self.schemas.facets if known == key)
                if elsewhere:
                    yield f"{where}: {key!r} is a {' / '.join(elsewhere)} facet, not a {location} facet"
                elif key.startswith(FACET_PREFIX):
                    yield f"{where}: unknown lineage-governance facet {key!r}"
                continue  # another producer's custom facet: only BaseFacet applies
            if key.startswith(FACET_PREFIX):
                schema_url = str(facet.get("_schemaURL", ""))
                if self.schemas.own.get(schema_url.split("#", 1)[0]) != key:
                    yield f"{where}._schemaURL {schema_url!r} is not the published schema of {key}"
            for error in self._validator(ref).iter_errors(facet):
                yield f"{_path(where, error)}: {_message(error)}"

    def marquez_problems(self, event: dict) -> Iterator[str]:
        for check in event_checks(event).values():
            yield from check(event)

    def problems(self, event: dict) -> list[str]:
        """Everything wrong with one event on its own."""
        if not isinstance(event, dict):
            return ["an event is a JSON object"]
        return [*self.spec_problems(event), *self.facet_problems(event), *self.marquez_problems(event)]

    def problems_in_stream(self, event: dict) -> list[str]:
        """``problems`` plus the rules over earlier events of the same run (then remembers it)."""
        found = self.problems(event)
        if not isinstance(event, dict) or "run" not in event:
            return found
        run_id = str((event.get("run") or {}).get("runId"))
        history = self.runs.get(run_id)
        for check in stream_checks(event).values():
            found.extend(check(event, history))
        self.runs.setdefault(run_id, RunHistory()).record(event)
        return found


@functools.lru_cache(maxsize=1)
def _shared() -> Validator:
    return Validator()


def validate_event(event: dict) -> list[str]:
    return _shared().problems(event)


def validate_events(events: Iterable[dict]) -> list[tuple[int, str]]:
    """``(index, problem)`` over a sequence of events, stream rules included (index from 1)."""
    validator = Validator()
    return [(index, problem) for index, event in enumerate(events, 1) for problem in validator.problems_in_stream(event)]


def validate_lines(lines: Iterable[str]) -> list[tuple[int, str]]:
    """``(line number, problem)`` for a JSONL stream; blank lines are skipped."""
    validator = Validator()
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as error:
            out.append((number, f"not JSON: {error.msg} at column {error.colno}"))
            continue
        out.extend((number, problem) for problem in validator.problems_in_stream(event))
    return out
