"""Gather what a report shows from the ledger and the OpenLineage events.

    ledger entries + events.jsonl -> [RunView(identity, statements, approvals, graph)]

The ledger says who ran what and what was decided (one run = one ``identity.run_id``); the
events add the column-level lineage, schemas, classifications and masks of what ran. Both are
joined on the run id, the same id the database saw in the identity comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

STATEMENT_PHASES_SHOWN = ("finished", "failed", "refused")


@dataclass
class StatementView:
    seq: int
    time: str
    phase: str
    kind: str
    sql: str
    action: str
    effective_action: str
    findings: list[dict[str, Any]]
    reads: list[str]
    writes: list[str]
    masked_columns: list[str]
    rows: int | None
    duration_ms: float | None
    error: str | None
    approval: dict[str, Any] | None


Node = tuple[str, "str | None"]  # (dataset, column); column None for a table-level edge


@dataclass
class Edge:
    source: Node
    target: Node
    masked: bool = False
    blocked: bool = False
    strategy: str | None = None


@dataclass
class Graph:
    datasets: dict[str, list[str]] = field(default_factory=dict)  # dataset -> ordered columns
    classified: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (dataset, column) -> tags
    edges: list[Edge] = field(default_factory=list)
    refused_targets: dict[str, list[str]] = field(default_factory=dict)  # dataset -> rules that refused writes to it

    def add_dataset(self, name: str, columns: Iterable[str] = ()) -> None:
        known = self.datasets.setdefault(name, [])
        for column in columns:
            if column not in known:
                known.append(column)

    def merge(self, other: "Graph") -> None:
        for name, columns in other.datasets.items():
            self.add_dataset(name, columns)
        for column, tags in other.classified.items():
            self.classified.setdefault(column, tags)
        for name, rules in other.refused_targets.items():
            known = self.refused_targets.setdefault(name, [])
            known.extend(rule for rule in rules if rule not in known)
        seen = {(e.source, e.target, e.blocked) for e in self.edges}
        for edge in other.edges:
            if (edge.source, edge.target, edge.blocked) not in seen:
                self.edges.append(edge)
                seen.add((edge.source, edge.target, edge.blocked))


@dataclass
class RunView:
    run_id: str
    identity: dict[str, Any]
    statements: list[StatementView] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    other_events: list[dict[str, Any]] = field(default_factory=list)
    graph: Graph = field(default_factory=Graph)
    first_time: str = ""

    @property
    def title(self) -> str:
        identity = self.identity
        return f"{identity.get('job_namespace', '?')}/{identity.get('job_name', '?')}"

    def count(self, action: str) -> int:
        return sum(1 for s in self.statements if s.action == action)


def load_events(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    events = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not a JSON event ({error.msg})") from None
    return events


def collect(entries: Iterable[Any], events: Iterable[dict[str, Any]]) -> list[RunView]:
    runs: dict[str, RunView] = {}
    for entry in entries:
        body = entry.body
        identity = body.get("identity") or {}
        run_id = identity.get("run_id") or (body.get("payload", {}).get("request", {}) or {}).get("run_id") or "(no run)"
        run = runs.get(run_id)
        if run is None:
            run = runs[run_id] = RunView(run_id, identity, first_time=body.get("time", ""))
        if body.get("kind") == "statement":
            if body.get("phase") in STATEMENT_PHASES_SHOWN:
                run.statements.append(_statement(entry.seq, body))
        elif str(body.get("kind", "")).startswith("approval"):
            run.approvals.append({"seq": entry.seq, "time": body.get("time"), "kind": body["kind"], **_approval_summary(body)})
        else:
            run.other_events.append({"seq": entry.seq, "time": body.get("time"), "kind": body.get("kind")})
    for run in runs.values():
        _blocked_edges(run)
    for event in events:
        parent = (((event.get("run") or {}).get("facets") or {}).get("parent") or {}).get("run", {}).get("runId")
        run_id = parent or (event.get("run") or {}).get("runId")
        if run_id not in runs:
            continue
        if event.get("eventType") == "COMPLETE":
            runs[run_id].graph.merge(graph_from_event(event))
    return sorted(runs.values(), key=lambda run: run.first_time)


def _statement(seq: int, body: dict[str, Any]) -> StatementView:
    statement = body.get("statement") or {}
    decision = body.get("decision") or {}
    tables = body.get("tables") or {}
    return StatementView(
        seq=seq,
        time=body.get("time", ""),
        phase=body.get("phase", ""),
        kind=statement.get("kind", "?"),
        sql=statement.get("sql", ""),
        action=decision.get("action", "?"),
        effective_action=decision.get("effective_action", decision.get("action", "?")),
        findings=decision.get("findings") or [],
        reads=list(tables.get("read") or []),
        writes=list(tables.get("written") or []),
        masked_columns=list(body.get("masked_columns") or []),
        rows=body.get("rows"),
        duration_ms=body.get("duration_ms"),
        error=body.get("error"),
        approval=body.get("approval"),
    )


def _approval_summary(body: dict[str, Any]) -> dict[str, Any]:
    request = (body.get("payload") or {}).get("request") or {}
    return {
        "id": request.get("id"),
        "status": request.get("status"),
        "requester": request.get("requester"),
        "decided_by": request.get("decided_by"),
        "sql": request.get("normalized_sql"),
        "reasons": [reason.get("rule") for reason in request.get("reasons") or []],
    }


def _blocked_edges(run: RunView) -> None:
    """Refused statements never ran: draw what they tried as blocked table-level edges."""
    for statement in run.statements:
        if statement.phase != "refused":
            continue
        rules = [finding.get("rule", "?") for finding in statement.findings if finding.get("action") == statement.action]
        for target in statement.writes:
            run.graph.add_dataset(target)
            known = run.graph.refused_targets.setdefault(target, [])
            known.extend(rule for rule in rules if rule not in known)
            for source in statement.reads:
                if source != target:
                    run.graph.add_dataset(source)
                    run.graph.edges.append(Edge((source, None), (target, None), blocked=True))


def graph_from_event(event: dict[str, Any]) -> Graph:
    graph = Graph()
    masked: dict[tuple[str, str], str] = {}
    for dataset in event.get("inputs") or []:
        name = _dataset_name(dataset)
        graph.add_dataset(name, _fields(dataset))
        _classifications(graph, name, dataset)
        masking = (dataset.get("inputFacets") or {}).get("lineageGovernance_masking") or {}
        for column in masking.get("columns") or []:
            masked[(name, column["name"])] = column.get("strategy", "masked")
    for dataset in event.get("outputs") or []:
        name = _dataset_name(dataset)
        graph.add_dataset(name, _fields(dataset))
        _classifications(graph, name, dataset)
        lineage = ((dataset.get("facets") or {}).get("columnLineage") or {}).get("fields") or {}
        for column, spec in lineage.items():
            for source in spec.get("inputFields") or []:
                source_column = (source["name"], source["field"])
                graph.add_dataset(source["name"], [source["field"]])
                strategy = masked.get(source_column)
                graph.edges.append(Edge(source_column, (name, column), masked=strategy is not None, strategy=strategy))
    return graph


def _dataset_name(dataset: dict[str, Any]) -> str:
    return dataset.get("name", "?")


def _fields(dataset: dict[str, Any]) -> list[str]:
    schema = (dataset.get("facets") or {}).get("schema") or {}
    return [field["name"] for field in schema.get("fields") or []]


def _classifications(graph: Graph, name: str, dataset: dict[str, Any]) -> None:
    facet = (dataset.get("facets") or {}).get("lineageGovernance_classifications") or {}
    for column, tags in (facet.get("columns") or {}).items():
        graph.classified.setdefault((name, column), list(tags))
