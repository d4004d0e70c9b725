"""One dbt node as the pre-flight sees it: plain data, built in the process that runs dbt and
analysed in the governance sidecar (so this module imports nothing heavy)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    """One node as the pre-flight sees it."""

    unique_id: str
    resource_type: str  # model, seed, snapshot, test, operation, hook
    sql: str | None = None  # compiled in analysis mode; None for seeds
    relation: str | None = None  # database.schema.identifier it writes
    materialized: str | None = None
    selected: bool = True  # runs in this command (else analysed only for lineage)
    governed: tuple[str, ...] = ()  # node ids read through governed_source/governed_ref, one per call
    columns: tuple[str, ...] = ()  # a seed's columns (its CSV header)
    exists: bool | None = None  # the relation exists in the warehouse (None: ask the catalog)
    full_refresh: bool = False
