"""Every facet has ``_producer`` and ``_schemaURL``, both absolute URIs; custom facets point
``_schemaURL`` at their own versioned schema, not at OpenLineage's generic base facet.

    "lineageGovernance_identity": {"_producer": "lineage-governance", ...}  ->  "..._producer ... is not an absolute URI"
"""

from __future__ import annotations

from typing import Iterator
from urllib.parse import urlparse

from lineage.events.marquez.common import facets
from lineage.events.registry import schema_set

GENERIC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def is_uri(value) -> bool:
    if not isinstance(value, str) or not value or any(char.isspace() for char in value):
        return False
    parsed = urlparse(value)
    return bool(parsed.scheme) and bool(parsed.netloc or parsed.path)


def facet_uris(event: dict) -> Iterator[str]:
    for name in ("producer", "schemaURL"):
        if not is_uri(event.get(name)):
            yield f"{name} {event.get(name)!r} is not an absolute URI"
    spec_keys = schema_set().spec_keys
    for where, location, key, facet in facets(event):
        if not isinstance(facet, dict):
            yield f"{where} is not an object"
            continue
        for name in ("_producer", "_schemaURL"):
            if not is_uri(facet.get(name)):
                yield f"{where}.{name} {facet.get(name)!r} is missing or not an absolute URI"
        schema_url = facet.get("_schemaURL")
        if isinstance(schema_url, str) and key not in spec_keys and schema_url.startswith(GENERIC):
            yield f"{where}._schemaURL points at OpenLineage's generic base facet; a custom facet needs its own versioned schema"
