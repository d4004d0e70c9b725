"""The event's ``producer`` and ``schemaURL`` and every facet's ``_producer`` and ``_schemaURL``
are absolute URIs (the spec's BaseFacet; Marquez reads them as URIs).

    "lineageGovernance_identity": {"_producer": "lineage-governance", ...}  ->  "..._producer ... is not an absolute URI"
"""

from __future__ import annotations

from typing import Iterator
from urllib.parse import urlparse

from lineage.deliver.marquez.common import facets


def is_uri(value) -> bool:
    if not isinstance(value, str) or not value or any(char.isspace() for char in value):
        return False
    parsed = urlparse(value)
    return bool(parsed.scheme) and bool(parsed.netloc or parsed.path)


def facet_uris(event: dict) -> Iterator[str]:
    for name in ("producer", "schemaURL"):
        if not is_uri(event.get(name)):
            yield f"{name} {event.get(name)!r} is not an absolute URI"
    for where, _location, _key, facet in facets(event):
        if not isinstance(facet, dict):
            yield f"{where} is not an object"
            continue
        for name in ("_producer", "_schemaURL"):
            if not is_uri(facet.get(name)):
                yield f"{where}.{name} {facet.get(name)!r} is missing or not an absolute URI"
