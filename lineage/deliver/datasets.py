"""Input and output datasets of one governed statement, with their facets.

    INSERT INTO mart.contacts (id, email) SELECT id, email FROM crm.customers   (email masked)
      -> inputs:  postgres://localhost:5432 analytics.crm.customers
                  facets: dataSource, schema (catalog), lineageGovernance_classifications
                  inputFacets: lineageGovernance_masking [email: strategy email]
         outputs: postgres://localhost:5432 analytics.mart.contacts
                  facets: dataSource, schema, columnLineage (email <- customers.email, masked)

Marquez keeps column lineage only for output fields in the same output's ``schema`` facet,
and input fields only of inputs of the same run whose schema lists them: both are enforced
here, so what we send is what Marquez stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import column_lineage_dataset, datasource_dataset, schema_dataset

from lineage.decide.catalog import Catalog
from lineage.decide.classify import Classifier
from lineage.deliver.facets import (
    PRODUCER,
    LineageGovernanceClassificationsDatasetFacet,
    LineageGovernanceMaskingInputDatasetFacet,
    MaskedColumnEntry,
)
from lineage.deliver.naming import dataset_name, default_namespace, sanitize_namespace
from lineage.model import Action, Decision, MaskedColumn
from lineage.decide.names import dbt_logical_name
from lineage.decide.analysis.kinds import CREATING_FROM_QUERIES

UNKNOWN_TYPES = ("", "UNKNOWN")


@dataclass(frozen=True)
class Where:
    """Where the statement ran, for dataset names: namespace, database, dialect."""

    namespace: str
    database: str | None
    dialect: str

    @classmethod
    def of(cls, context) -> "Where":
        namespace = sanitize_namespace(context.namespace) if context.namespace else default_namespace(context.dialect)
        return cls(namespace, context.database, context.dialect)

    def name(self, table: str) -> str:
        return dataset_name(dbt_logical_name(table), self.database, self.dialect)


def statement_datasets(
    decision: Decision,
    where: Where,
    catalog: Catalog | None = None,
    classifier: Classifier | None = None,
) -> tuple[list[InputDataset], list[OutputDataset]]:
    """The statement's inputs and outputs, identical on every event of its run."""
    facts = decision.facts
    system = set(facts.system_reads)
    # in audit mode (or when refused) nothing was read masked, whatever masking would have done
    masked = _masked_by_table(decision.masked_columns, where) if decision.effective_action == Action.MASK else {}
    policy_version = decision.policy_version
    inputs: list[InputDataset] = []
    input_fields: dict[str, dict[str, str]] = {}  # dataset name -> lower field -> field
    input_names: dict[str, str] = {}  # analysis table name -> dataset name
    for table in _unique(facts.reads):
        if table in system:
            continue
        name = where.name(table)
        if name in input_fields:
            input_names[table] = name
            continue
        columns = _catalog_columns(catalog, table)
        if columns is None and facts.columns_read.get(table):
            columns = {column: "" for column in sorted(facts.columns_read[table])}
        facets = _dataset_facets(where, columns, _classifications(classifier, catalog, table, columns, policy_version))
        input_facets = {}
        if name in masked:
            input_facets["lineageGovernance_masking"] = LineageGovernanceMaskingInputDatasetFacet(
                columns=[MaskedColumnEntry(name=c.column, strategy=c.strategy, tags=list(c.tags)) for c in masked[name]],
                policyVersion=policy_version,
                producer=PRODUCER,
            )
        inputs.append(InputDataset(namespace=where.namespace, name=name, facets=facets, inputFacets=input_facets))
        input_fields[name] = {column.lower(): column for column in (columns or {})}
        input_names[table] = name

    outputs: list[OutputDataset] = []
    seen: set[str] = set()
    for table in _unique(facts.writes):
        name = where.name(table)
        if name in seen:
            continue
        seen.add(name)
        columns = _output_columns(decision, catalog, table)
        facets = _dataset_facets(where, columns, _classifications(classifier, catalog, table, columns, policy_version))
        lineage = _column_lineage(decision, table, columns, input_names, input_fields, where, masked)
        if lineage is not None:
            facets["columnLineage"] = lineage
        outputs.append(OutputDataset(namespace=where.namespace, name=name, facets=facets))
    return inputs, outputs


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _catalog_columns(catalog: Catalog | None, table: str) -> dict[str, str] | None:
    if catalog is None:
        return None
    columns = catalog.columns(table)
    return dict(columns) if columns else None


def _output_columns(decision: Decision, catalog: Catalog | None, table: str) -> dict[str, str] | None:
    """What the output looks like after the statement: a CREATE ... AS defines it, else the catalog."""
    facts = decision.facts
    known = _catalog_columns(catalog, table) or {}
    produced = [column for column in facts.output_columns if column != "*"]
    if facts.kind in CREATING_FROM_QUERIES and produced and "*" not in facts.output_columns:
        lowered = {key.lower(): value for key, value in known.items()}
        return {column: lowered.get(column.lower(), "") for column in produced}
    if known:
        return known
    targets = _lineage_targets(decision, table)
    if targets:
        return {column: "" for column in targets}
    return None


def _dataset_facets(where: Where, columns: Mapping[str, str] | None, classifications) -> dict:
    facets: dict = {
        # ``uri`` is a URI: "bigquery" (a namespace without a scheme) goes in ``name`` only
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=where.namespace, uri=where.namespace if "://" in where.namespace else None, producer=PRODUCER
        ),
    }
    if columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=column, type=None if data_type in UNKNOWN_TYPES else data_type)
                for column, data_type in columns.items()
            ],
            producer=PRODUCER,
        )
    if classifications is not None:
        facets["lineageGovernance_classifications"] = classifications
    return facets


def _classifications(classifier, catalog, table, columns, policy_version):
    if classifier is None or not classifier.is_classified_table(table):
        return None
    tagged = classifier.classified_columns(table, catalog, list(columns) if columns else None)
    if not tagged:
        return None
    return LineageGovernanceClassificationsDatasetFacet(
        columns={column: list(tags) for column, tags in tagged.items()}, policyVersion=policy_version, producer=PRODUCER
    )


def _masked_by_table(masked_columns: Iterable[MaskedColumn], where: Where) -> dict[str, list[MaskedColumn]]:
    out: dict[str, list[MaskedColumn]] = {}
    for column in masked_columns:
        out.setdefault(where.name(column.table), []).append(column)
    return out


def _lineage_targets(decision: Decision, table: str) -> list[str]:
    prefix = table.lower() + "."
    return [target[len(prefix):] for target in decision.facts.lineage.edges if target.lower().startswith(prefix)]


def _split_source(source: str, input_names: Mapping[str, str]) -> tuple[str, str] | None:
    """``analytics.crm.customers.email`` -> (dataset name, ``email``) for a table the run read."""
    best = None
    lowered = source.lower()
    for table, name in input_names.items():
        prefix = table.lower() + "."
        if lowered.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, name)
    if best is None:
        return None
    return best[1], source[len(best[0]):]


def _column_lineage(decision, table, columns, input_names, input_fields, where, masked):
    if not columns:
        return None
    schema_fields = {column.lower(): column for column in columns}
    masked_fields = {(name, column.column.lower()): column for name, listed in masked.items() for column in listed}
    prefix = table.lower() + "."
    fields = {}
    for target, sources in decision.facts.lineage.edges.items():
        if not target.lower().startswith(prefix):
            continue
        output_field = schema_fields.get(target[len(prefix):].lower())
        if output_field is None:
            continue  # Marquez drops lineage of fields missing from the schema facet
        entries = []
        for source, subtype in sorted(sources.items()):
            split = _split_source(source, input_names)
            if split is None:
                continue
            name, field = split
            known = input_fields.get(name, {}).get(field.lower())
            if known is None:
                continue  # only fields of this run's inputs, listed in their schema
            mask = masked_fields.get((name, known.lower()))
            description = f"{subtype.lower()} of {name}.{known}" + (f", masked ({mask.strategy})" if mask else "")
            entries.append((name, known, subtype, mask, description))
        if not entries:
            continue
        any_masked = any(entry[3] for entry in entries)
        subtypes = {entry[2] for entry in entries}
        kind = "MASKED" if any_masked else ("IDENTITY" if subtypes == {"IDENTITY"} else ("AGGREGATION" if "AGGREGATION" in subtypes else "TRANSFORMATION"))
        fields[output_field] = column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=where.namespace,
                    name=name,
                    field=known,
                    transformations=[column_lineage_dataset.Transformation(type="DIRECT", subtype=subtype, description=description, masking=bool(mask))],
                )
                for name, known, subtype, mask, description in entries
            ],
            transformationDescription="; ".join(entry[4] for entry in entries),
            transformationType=kind,
        )
    if not fields:
        return None
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)
