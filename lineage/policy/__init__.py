"""The policy file: one YAML document, validated, versioned by the sha256 of its bytes."""

from lineage.policy.load import LoadedPolicy, PolicyError, default_policy, load_policy, load_policy_text

__all__ = ["LoadedPolicy", "Policy", "PolicyError", "default_policy", "load_policy", "load_policy_text"]


def __getattr__(name: str):
    # Policy on first use: the models import pydantic, which the default policy does without
    if name == "Policy":
        from lineage.policy.model import Policy

        return Policy
    raise AttributeError(f"module 'lineage.policy' has no attribute {name!r}")
