"""What the pre-flight needs from dbt's manifest: relation names, column-meta classifications,
exposures, contracts and the order nodes run in. Works on dbt's Manifest objects and on the
plain dictionaries of ``manifest.json`` alike; imports nothing from dbt.

    columns: [{name: email, meta: {classification: pii.email}}]     (sources, models, seeds, snapshots)
    -> ClassificationEntry(table="shop.raw.raw_customers", column="email", tags=("pii.email",), origin="dbt:source.shop.raw.customers")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # the dbt process sends column_meta; the classifier's module stays in the sidecar
    from lineage.decide.classify import ClassificationEntry

META_KEYS = ("classification", "classifications")
RELATIONAL = ("model", "seed", "snapshot")


def get(node: Any, key: str, default: Any = None) -> Any:
    """An attribute of a dbt node object or a key of its JSON form."""
    if isinstance(node, Mapping):
        return node.get(key, default)
    return getattr(node, key, default)


def relation_name(node: Any) -> str | None:
    """``database.schema.identifier`` of a source, model, seed or snapshot; None for ephemeral models and tests."""
    resource_type = get(node, "resource_type")
    resource_type = getattr(resource_type, "value", resource_type)
    if resource_type == "source":
        identifier = get(node, "identifier") or get(node, "name")
    elif resource_type in RELATIONAL:
        if resource_type == "model" and materialization(node) == "ephemeral":
            return None
        identifier = get(node, "alias") or get(node, "name")
    else:
        return None
    parts = [part for part in (get(node, "database"), get(node, "schema"), identifier) if part]
    return ".".join(parts)


def materialization(node: Any) -> str | None:
    config = get(node, "config")
    return get(config, "materialized") if config is not None else None


def contract_enforced(node: Any) -> bool:
    config = get(node, "config")
    contract = get(config, "contract") if config is not None else None
    return bool(get(contract, "enforced")) if contract is not None else False


def column_tags(column: Any) -> tuple[str, ...]:
    """Tags from a column's ``meta`` (``classification: pii.email`` or a list), also under ``config.meta``."""
    found: list[str] = []
    metas = [get(column, "meta") or {}]
    config = get(column, "config")
    if config is not None:
        metas.append(get(config, "meta") or {})
    for meta in metas:
        for key in META_KEYS:
            value = meta.get(key) if isinstance(meta, Mapping) else None
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, (list, tuple)):
                found.extend(str(item) for item in value)
    return tuple(dict.fromkeys(tag.strip() for tag in found if tag and tag.strip()))


def meta_classifications(nodes: Iterable[Any]) -> list[ClassificationEntry]:
    """Classification entries from the column meta of sources, models, seeds and snapshots."""
    return classification_entries(column_meta(nodes))


def column_meta(nodes: Iterable[Any]) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(relation, column, tags, origin) of every classified column: plain data, as the dbt process
    sends it (``classification_entries`` makes the entries in the sidecar).

    >>> column_meta([{"resource_type": "source", "unique_id": "source.shop.raw.customers", "database": "shop",
    ...   "schema": "raw", "name": "customers", "columns": {"email": {"meta": {"classification": "pii.email"}}}}])
    [('shop.raw.customers', 'email', ('pii.email',), 'dbt:source.shop.raw.customers')]
    """
    found = []
    for node in nodes:
        relation = relation_name(node)
        if relation is None:
            continue
        columns = get(node, "columns") or {}
        for name, column in columns.items():
            tags = column_tags(column)
            if tags:
                found.append((relation, get(column, "name") or name, tags, f"dbt:{get(node, 'unique_id')}"))
    return found


def classification_entries(meta: Iterable[tuple[str, str, tuple[str, ...], str]]) -> list[ClassificationEntry]:
    from lineage.decide.classify import ClassificationEntry

    return [ClassificationEntry(relation, column, tags, origin=origin) for relation, column, tags, origin in meta]


def depends_on(node: Any) -> tuple[str, ...]:
    depends = get(node, "depends_on")
    nodes = get(depends, "nodes") if depends is not None else None
    return tuple(nodes or ())


def exposures(manifest: Any) -> dict[str, tuple[str, ...]]:
    """Exposure unique id -> the nodes it depends on."""
    found = get(manifest, "exposures") or {}
    return {unique_id: depends_on(exposure) for unique_id, exposure in found.items()}


def topological(node_ids: Iterable[str], parents: Mapping[str, Iterable[str]]) -> list[str]:
    """``node_ids`` ordered so every node comes after the parents among them (ties by id, stable)."""
    wanted = set(node_ids)
    order: list[str] = []
    state: dict[str, int] = {}
    for start in sorted(wanted):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(set(parents.get(start, ())) & wanted)))]
        state[start] = 1
        while stack:
            current, pending = stack[-1]
            advanced = False
            for parent in pending:
                if not state.get(parent):
                    state[parent] = 1
                    stack.append((parent, iter(sorted(set(parents.get(parent, ())) & wanted))))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                state[current] = 2
                order.append(current)
    return order
