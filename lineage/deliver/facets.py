"""lineage-governance's custom OpenLineage facets, on openlineage-python's facet classes.

    LineageGovernanceIdentityRunFacet(principal="svc:etl", environment="prod", source="airflow")
      -> "lineageGovernance_identity": {"principal": "svc:etl", ..., "_producer": PRODUCER,
                                        "_schemaURL": ".../1-0-0/LineageGovernanceIdentityRunFacet.json#/$defs/..."}

Each facet has a JSON Schema in ``schemas/<version>/`` (shipped in the package, used by the
validator) and a versioned ``_schemaURL`` pointing at it. Keys follow Marquez's custom facet
naming: ``lineageGovernance_<name>``. The producer is passed to every facet we build instead
of ``facet_v2.set_producer(...)``: that setter is process-global, and the Airflow OpenLineage
provider sets it to its own URL at import, so the two would overwrite each other.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any

import attr
from openlineage.client.facet_v2 import DatasetFacet, InputDatasetFacet, RunFacet

REPOSITORY = "https://github.com/lineage-governance/lineage-governance"
SCHEMA_BASE = "https://raw.githubusercontent.com/lineage-governance/lineage-governance/main/lineage/deliver/schemas"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
FACET_PREFIX = "lineageGovernance_"


@functools.lru_cache(maxsize=1)
def version() -> str:
    try:
        return importlib.metadata.version("lineage-governance")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.0.0"


PRODUCER = f"{REPOSITORY}/tree/v{version()}/lineage/deliver"


def schema_url(name: str, schema_version: str = "1-0-0") -> str:
    return f"{SCHEMA_BASE}/{schema_version}/{name}.json#/$defs/{name}"


class _OurProducer:
    """Sets our producer when none was given (instead of openlineage-python's global one)."""

    def __attrs_post_init__(self) -> None:
        if not self._producer:  # type: ignore[has-type]
            self._producer = PRODUCER
        super().__attrs_post_init__()  # type: ignore[misc]


@attr.define
class LineageGovernanceIdentityRunFacet(_OurProducer, RunFacet):
    """Who is accountable for the run: principal, actor, groups, environment, source attributes."""

    principal: str
    environment: str
    source: str
    groups: list[str] = attr.field(factory=list)
    actor: str | None = attr.field(default=None)
    databaseUser: str | None = attr.field(default=None)  # noqa: N815
    attributes: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("LineageGovernanceIdentityRunFacet")


@attr.define
class GovernanceFinding:
    rule: str
    action: str
    message: str
    object: str | None = attr.field(default=None)


@attr.define
class GovernanceApproval:
    id: str | None = attr.field(default=None)
    approver: str | None = attr.field(default=None)
    requestId: str | None = attr.field(default=None)  # noqa: N815


@attr.define
class LineageGovernanceDecisionRunFacet(_OurProducer, RunFacet):
    """The decision on the statement: action, findings, policy version, mode, approval."""

    action: str
    effectiveAction: str  # noqa: N815
    mode: str
    policyVersion: str  # noqa: N815
    findings: list[GovernanceFinding] = attr.field(factory=list)
    statementKind: str | None = attr.field(default=None)  # noqa: N815
    fingerprint: str | None = attr.field(default=None)
    outcome: str | None = attr.field(default=None)
    maskedColumns: list[str] = attr.field(factory=list)  # noqa: N815
    approval: GovernanceApproval | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("LineageGovernanceDecisionRunFacet")


@attr.define
class MaskedColumnEntry:
    name: str
    strategy: str
    tags: list[str] = attr.field(factory=list)


@attr.define
class LineageGovernanceMaskingInputDatasetFacet(_OurProducer, InputDatasetFacet):
    """Columns of this input read masked, with the strategy applied (never any values)."""

    columns: list[MaskedColumnEntry]
    policyVersion: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return schema_url("LineageGovernanceMaskingInputDatasetFacet")


@attr.define
class LineageGovernanceClassificationsDatasetFacet(_OurProducer, DatasetFacet):
    """Classification tags per column of this dataset."""

    columns: dict[str, list[str]]
    policyVersion: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return schema_url("LineageGovernanceClassificationsDatasetFacet")


FACETS = {
    "lineageGovernance_identity": LineageGovernanceIdentityRunFacet,
    "lineageGovernance_decision": LineageGovernanceDecisionRunFacet,
    "lineageGovernance_masking": LineageGovernanceMaskingInputDatasetFacet,
    "lineageGovernance_classifications": LineageGovernanceClassificationsDatasetFacet,
}
