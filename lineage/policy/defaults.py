"""The built-in policy, what ``Policy()`` holds, without importing pydantic or building the models.

A caller given no policy file (``lineage check`` without ``--policy``) reads only default values:
paying for pydantic and the policy models would about double the command's start-up. Each field
reads as ``Policy()``'s (tests/policy/test_defaults.py compares them field by field); anything else
asked of a section (a model's method such as ``jit.applies_to``, ``model_dump``, ``==``, ``repr``)
is answered by a real ``Policy()``, built on first use.

    >>> policy = default_policy_model()
    >>> policy.mode, policy.masking.default_strategy, policy.guardrails
    ('enforce', 'nullify', [])
    >>> policy.jit.applies_to("prod")  # a method: the real model answers
    False
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lineage.decide.limits import DEFAULT_MAX_CHECK_SECONDS, DEFAULT_MAX_SQL_BYTES


def default_fields() -> dict[str, Any]:
    """``Policy()``'s fields, sections as dicts; new lists and dicts on each call, like the model's."""
    return {
        "version": 1,
        "mode": "enforce",
        "limits": {"max_sql_bytes": DEFAULT_MAX_SQL_BYTES, "max_check_seconds": DEFAULT_MAX_CHECK_SECONDS},
        "classifications": [],
        "masking": {"rules": [], "unmasked_for": [], "default_strategy": "nullify", "hash_key": None, "verify_patterns": {}},
        "guardrails": [],
        "session_settings": {"allowed": []},
        "zones": [],
        "approvals": {"approvers": [], "ttl": timedelta(hours=1), "scope": "run", "keys": [], "server_keys": [], "notify": None},
        "identity": {"principals": [], "groups": []},
        "jit": {
            "enabled": False,
            "ttl": timedelta(minutes=15),
            "environments": None,
            "admin_dsn_env": "LINEAGE_JIT_ADMIN_DSN",
            "role_prefix": "lg_",
            "owner_role": None,
        },
        "allowlist": {"functions": [], "relations": [], "files": []},
    }


# the fields of these names are models (sections), not dict values
SECTIONS = frozenset({"limits", "masking", "session_settings", "approvals", "identity", "jit", "allowlist"})


class DefaultSection:
    """The policy (path ``()``) or one of its sections (``("masking",)``), as ``Policy()`` has it."""

    def __init__(self, path: tuple[str, ...], fields: dict[str, Any], root: list[Any]):
        for name, value in fields.items():
            object.__setattr__(self, name, DefaultSection((*path, name), value, root) if not path and name in SECTIONS else value)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_root", root)  # [the real Policy() once built], shared by the sections

    def _model(self) -> Any:
        """The real pydantic model this stands for (``Policy()`` or its section), built on first use."""
        root = self._root
        if not root:
            from lineage.policy.model import Policy

            root.append(Policy())
        model = root[0]
        for name in self._path:
            model = getattr(model, name)
        return model

    def __getattr__(self, name: str) -> Any:  # only for names that are not fields
        if name in ("_path", "_root"):  # not set yet: no model to ask
            raise AttributeError(name)
        return getattr(self._model(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._model(), name, value)  # the frozen model's own error

    def __delattr__(self, name: str) -> None:
        delattr(self._model(), name)

    def __eq__(self, other: object) -> bool:
        return self._model() == (other._model() if isinstance(other, DefaultSection) else other)

    def __hash__(self) -> int:
        return hash(self._model())

    def __repr__(self) -> str:
        return repr(self._model())

    def __str__(self) -> str:
        return str(self._model())

    def __iter__(self):
        return iter(self._model())

    def __reduce__(self):
        return (_real, (self._model(),))  # a copy or pickle is the real model


def _real(model: Any) -> Any:
    return model


def default_policy_model() -> DefaultSection:
    """The built-in policy: reads as ``Policy()`` without building it."""
    return DefaultSection((), default_fields(), [])
