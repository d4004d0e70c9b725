"""The JSON Schemas events are validated against: OpenLineage's (vendored in ``spec/``) and ours
(``schemas/``), in one ``referencing.Registry`` keyed by ``$id`` so validation works offline.

Each facet schema file describes one key of a facets map; its ``$defs`` say at which location
the facet lives through the base they extend (RunFacet -> run facets, JobFacet -> job facets,
DatasetFacet -> dataset facets, InputDatasetFacet -> ``inputFacets``, OutputDatasetFacet ->
``outputFacets``). Some keys exist at several locations with different schemas (``tags``,
``ownership``, ``documentation``, ``dataQualityMetrics``, ``lineage``, ``subset``), so facets are
looked up by (location, key).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE / "spec"
SCHEMA_DIR = HERE / "schemas"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
LOCATIONS = {
    "RunFacet": "run",
    "JobFacet": "job",
    "DatasetFacet": "dataset",
    "InputDatasetFacet": "inputFacets",
    "OutputDatasetFacet": "outputFacets",
}


@dataclass(frozen=True)
class SchemaSet:
    registry: Registry
    facets: dict[tuple[str, str], str]  # (location, key) -> "$id#/$defs/Name"
    spec_keys: frozenset[str]  # keys OpenLineage's spec defines
    own: dict[str, str]  # our facets' schema URLs (without fragment) -> key


def _schema_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.json") if path.name != "registry.json")


@functools.lru_cache(maxsize=1)
def schema_set() -> SchemaSet:
    resources = []
    facets: dict[tuple[str, str], str] = {}
    spec_keys: set[str] = set()
    own: dict[str, str] = {}
    for root, ours in ((SPEC_DIR, False), (SCHEMA_DIR, True)):
        for path in _schema_files(root):
            schema = json.loads(path.read_text())
            schema_id = schema.get("$id")
            if not schema_id:
                continue
            resources.append((schema_id, Resource.from_contents(schema, default_specification=DRAFT202012)))
            keys = list((schema.get("properties") or {}).keys())
            if len(keys) != 1:
                continue  # the core schema, not a facet file
            key = keys[0]
            if ours:
                own[schema_id] = key
            else:
                spec_keys.add(key)
            for name, definition in (schema.get("$defs") or {}).items():
                base = ((definition.get("allOf") or [{}])[0].get("$ref") or "")
                location = LOCATIONS.get(base.rsplit("/", 1)[-1]) if base.startswith(CORE_ID) else None
                if location:
                    facets[(location, key)] = f"{schema_id}#/$defs/{name}"
    registry = Registry().with_resources(resources)
    return SchemaSet(registry.crawl(), facets, frozenset(spec_keys), own)
