"""Walking an event: its jobs, datasets and facets, each with a readable path."""

from __future__ import annotations

from typing import Iterator


def jobs(event: dict) -> Iterator[tuple[str, dict]]:
    if isinstance(event.get("job"), dict):
        yield "job", event["job"]
    parent = (((event.get("run") or {}).get("facets")) or {}).get("parent")
    if isinstance(parent, dict):
        if isinstance(parent.get("job"), dict):
            yield "run.facets.parent.job", parent["job"]
        root = parent.get("root")
        if isinstance(root, dict) and isinstance(root.get("job"), dict):
            yield "run.facets.parent.root.job", root["job"]


def datasets(event: dict) -> Iterator[tuple[str, dict]]:
    for role in ("inputs", "outputs"):
        for index, dataset in enumerate(event.get(role) or ()):
            if isinstance(dataset, dict):
                yield f"{role}[{index}]", dataset
    if isinstance(event.get("dataset"), dict):
        yield "dataset", event["dataset"]


def facets(event: dict) -> Iterator[tuple[str, str, str, object]]:
    """``(path, location, key, facet)``; location is run, job, dataset, inputFacets or outputFacets."""
    for location, owner in (("run", event.get("run")), ("job", event.get("job"))):
        for key, facet in ((owner or {}).get("facets") or {}).items():
            yield f"{location}.facets.{key}", location, key, facet
    for where, dataset in datasets(event):
        for key, facet in (dataset.get("facets") or {}).items():
            yield f"{where}.facets.{key}", "dataset", key, facet
        for group in ("inputFacets", "outputFacets"):
            for key, facet in (dataset.get(group) or {}).items():
                yield f"{where}.{group}.{key}", group, key, facet
