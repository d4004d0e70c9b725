"""The policy file: one YAML document, validated, versioned by the sha256 of its bytes."""

from lineage.policy.load import LoadedPolicy, PolicyError, default_policy, load_policy, load_policy_text
from lineage.policy.model import Policy

__all__ = ["LoadedPolicy", "Policy", "PolicyError", "default_policy", "load_policy", "load_policy_text"]
