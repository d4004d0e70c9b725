"""The built-in policy without a file reads exactly as ``Policy()`` (``lineage.policy.defaults``), though
it builds neither pydantic nor the models; what is not a field is the real model's answer."""

from __future__ import annotations

import copy
import hashlib
import pickle

import pytest
from pydantic import BaseModel

from lineage.policy import Policy, default_policy, load_policy_text
from lineage.policy.defaults import SECTIONS, DefaultSection, default_policy_model


def fields_differ(stand_in, model: BaseModel, path: str = "") -> list[str]:
    """Where the stand-in and the model disagree, field by field (sections recursively)."""
    differences = []
    for name in type(model).model_fields:
        where = f"{path}.{name}" if path else name
        mine, real = getattr(stand_in, name), getattr(model, name)
        if isinstance(real, BaseModel):
            if not isinstance(mine, DefaultSection):
                differences.append(f"{where}: a section in Policy(), a {type(mine).__name__} here")
            else:
                differences += fields_differ(mine, real, where)
        elif isinstance(mine, DefaultSection) or type(mine) is not type(real) or mine != real:
            differences.append(f"{where}: {mine!r} here, {real!r} in Policy()")
    return differences


def test_every_field_reads_as_the_models_default():
    assert fields_differ(default_policy_model(), Policy()) == []


def test_every_field_and_section_is_held_without_the_model():
    """A field the stand-in lacks would still be answered (by the real model), but would build it."""
    stand_in, real = default_policy_model(), Policy()
    assert set(vars(stand_in)) - {"_path", "_root"} == set(Policy.model_fields)
    assert SECTIONS == {name for name in Policy.model_fields if isinstance(getattr(real, name), BaseModel)}
    for name in SECTIONS:
        assert set(vars(getattr(stand_in, name))) - {"_path", "_root"} == set(type(getattr(real, name)).model_fields), name
    assert stand_in._root == []  # nothing above built the model


def test_methods_and_model_api_are_the_real_models():
    policy = default_policy().policy
    assert policy.jit.applies_to("prod") is False
    assert policy.model_dump() == Policy().model_dump()
    assert policy.masking.model_dump() == Policy().masking.model_dump()
    assert policy == Policy() and policy.masking == Policy().masking and repr(policy) == repr(Policy())
    assert isinstance(copy.deepcopy(policy), Policy) and pickle.loads(pickle.dumps(policy)) == Policy()
    assert policy.model_copy(update={"mode": "audit"}).mode == "audit"


def test_it_is_frozen_and_each_call_has_its_own_lists():
    first, second = default_policy().policy, default_policy().policy
    with pytest.raises(Exception, match="frozen"):
        first.mode = "audit"
    with pytest.raises(Exception, match="frozen"):
        first.masking.default_strategy = "redact"
    first.guardrails.append("x")
    assert second.guardrails == [] and first.mode == "enforce"


def test_the_default_is_the_empty_texts_version_and_version_1_means_the_defaults():
    loaded = default_policy()
    assert loaded.version == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert loaded.mode == "enforce" and loaded.path == "<default policy>"
    assert fields_differ(loaded.policy, load_policy_text("version: 1\n").policy) == []
