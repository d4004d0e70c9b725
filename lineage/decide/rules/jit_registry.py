"""jit_registry: the just-in-time roles' registry (schema lineage_jit) is never read or written by governed SQL.

    INSERT INTO lineage_jit.roles VALUES ('reporting', ...)
    -> jit_registry (block): lineage_jit.roles is the JIT registry: ...

Only the JIT admin connection keeps it; a forged row there once made the sweep drop a role
that was never a JIT role.
"""

from __future__ import annotations

from typing import Iterator

from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext

REGISTRY_SCHEMA = "lineage_jit"


def in_registry(name: str) -> bool:
    parts = name.lower().split(".")
    return len(parts) >= 2 and parts[-2] == REGISTRY_SCHEMA


def jit_registry(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for name in dict.fromkeys([*facts.writes, *facts.reads, *facts.system_reads]):
        if in_registry(name):
            yield Finding(
                "jit_registry",
                f"{name} is the JIT registry: only the JIT admin connection reads or writes it, never governed SQL",
                name,
            )
