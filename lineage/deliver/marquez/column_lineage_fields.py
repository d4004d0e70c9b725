"""Column lineage names only output fields in the same output's ``schema`` facet, and input
fields of this run's inputs whose ``schema`` lists them; each field has
transformationDescription and transformationType, each input field its transformations.

    output schema [id], columnLineage {"email": ...}  ->  "outputs[0]...fields.email is not in the output's schema facet"
"""

from __future__ import annotations

from typing import Iterator


def _schema_fields(dataset: dict) -> set[str] | None:
    schema = (dataset.get("facets") or {}).get("schema")
    if not isinstance(schema, dict):
        return None
    return {field.get("name") for field in schema.get("fields") or () if isinstance(field, dict)}


def column_lineage_fields(event: dict) -> Iterator[str]:
    inputs = {(d.get("namespace"), d.get("name")): _schema_fields(d) for d in event.get("inputs") or ()}
    for index, output in enumerate(event.get("outputs") or ()):
        lineage = (output.get("facets") or {}).get("columnLineage")
        if not isinstance(lineage, dict):
            continue
        where = f"outputs[{index}].facets.columnLineage"
        own_fields = _schema_fields(output)
        if own_fields is None:
            yield f"{where} without a schema facet on the same output (Marquez keeps none of it)"
            own_fields = set()
        for field, spec in (lineage.get("fields") or {}).items():
            if field not in own_fields:
                yield f"{where}.fields.{field} is not in the output's schema facet"
            spec = spec or {}
            for name in ("transformationDescription", "transformationType"):
                if not isinstance(spec.get(name), str) or not spec.get(name):
                    yield f"{where}.fields.{field}.{name} is missing (Marquez stores it per field)"
            for position, item in enumerate(spec.get("inputFields") or ()):
                key = (item.get("namespace"), item.get("name"))
                label = f"{where}.fields.{field}.inputFields[{position}]"
                if key not in inputs:
                    yield f"{label} names {key[0]}/{key[1]}, which is not an input of this run"
                elif inputs[key] is None or item.get("field") not in inputs[key]:
                    yield f"{label}.field {item.get('field')!r} is not in that input's schema facet"
                if not item.get("transformations"):
                    yield f"{label}.transformations is missing"
