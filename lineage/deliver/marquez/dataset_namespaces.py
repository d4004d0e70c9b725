"""Dataset namespaces match Marquez's pattern ``^[a-zA-Z:;=/0-9_\\-.@+]{1,1024}$`` (else 400).

    {"namespace": "duckdb:///data/my warehouse.duckdb", ...}  ->  "inputs[0].namespace ... (Marquez answers 400)"
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.common import datasets
from lineage.deliver.naming import DATASET_NAMESPACE_PATTERN


def dataset_namespaces(event: dict) -> Iterator[str]:
    for where, dataset in datasets(event):
        namespace = dataset.get("namespace")
        if not isinstance(namespace, str) or not DATASET_NAMESPACE_PATTERN.match(namespace):
            yield f"{where}.namespace {namespace!r} does not match ^[a-zA-Z:;=/0-9_\\-.@+]{{1,1024}}$ (Marquez answers 400)"
    for output_index, output in enumerate(event.get("outputs") or ()):
        lineage = ((output.get("facets") or {}).get("columnLineage") or {}).get("fields") or {}
        for field, spec in lineage.items():
            for index, item in enumerate((spec or {}).get("inputFields") or ()):
                namespace = item.get("namespace")
                if not isinstance(namespace, str) or not DATASET_NAMESPACE_PATTERN.match(namespace):
                    yield f"outputs[{output_index}].facets.columnLineage.fields.{field}.inputFields[{index}].namespace {namespace!r} is not a valid dataset namespace"
