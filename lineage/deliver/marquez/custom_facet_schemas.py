"""A custom facet points ``_schemaURL`` at its own versioned schema, not at OpenLineage's generic
base facet (docs/marquez.md: a producer's practice; Marquez stores such a facet all the same).

    "lineageGovernance_identity": {"_schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"}
      ->  "run.facets.lineageGovernance_identity._schemaURL points at OpenLineage's generic base facet; ..."
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.common import facets
from lineage.deliver.registry import schema_set

GENERIC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def custom_facet_schemas(event: dict) -> Iterator[str]:
    spec_keys = schema_set().spec_keys
    for where, _location, key, facet in facets(event):
        schema_url = facet.get("_schemaURL") if isinstance(facet, dict) else None
        if isinstance(schema_url, str) and key not in spec_keys and schema_url.startswith(GENERIC):
            yield f"{where}._schemaURL points at OpenLineage's generic base facet; a custom facet needs its own versioned schema"
