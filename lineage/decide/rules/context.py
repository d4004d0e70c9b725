"""What a guardrail rule may look at besides the statement's facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.decide.catalog import Catalog
from lineage.decide.classify import Classifier, exempt
from lineage.identity.run_identity import RunIdentity

if TYPE_CHECKING:  # the models import pydantic, which a check under the default policy does without
    from lineage.policy.model import Policy


@dataclass(frozen=True)
class RuleContext:
    policy: Policy
    identity: RunIdentity
    catalog: Catalog
    classifier: Classifier
    policy_dir: Path | None = None  # where relative paths in the policy (masking.hash_key.file) start

    def sees_raw(self, tag: str) -> bool:
        return exempt(self.policy.masking, self.identity.principal, self.identity.groups, tag)
