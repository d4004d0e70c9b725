"""Where the plugin is in a task's call stack: context variables the interception and JIT read.

    with scope(RAW):                       # inside a governed hook call
        hook.get_conn()                    # -> the raw connection, not a governed wrapper
    with raw_connection(hook) as conn:     # the hook's own connection, ungoverned
        ...                                # (the plugin's catalog lookups)
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any

# inside a governed hook call: get_conn() returns the raw connection
RAW = contextvars.ContextVar("lineage_governance_raw", default=False)
# the statement was governed by an outer hook method: inner methods pass it through
GOVERNED = contextvars.ContextVar("lineage_governance_governed", default=False)
# inside the OpenLineage provider's metadata lookups
PROVIDER_METADATA = contextvars.ContextVar("lineage_governance_provider", default=False)
# inside SQLAlchemy's dialect initialisation (its own probes when an engine first connects)
DIALECT_SETUP = contextvars.ContextVar("lineage_governance_dialect_setup", default=False)
# reading the catalog or serving the provider's metadata lookups: the connection's own login (JIT)
STANDING_CREDENTIALS = contextvars.ContextVar("lineage_governance_standing_credentials", default=False)


@contextlib.contextmanager
def scope(var: contextvars.ContextVar, value: Any = True):
    """``var`` set to ``value`` for the block, restored after it."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


@contextlib.contextmanager
def raw_connection(hook):
    """The hook's own connection, ungoverned (for the plugin's catalog lookups)."""
    with scope(RAW):
        connection = hook.get_conn()
    try:
        yield connection
    finally:
        with contextlib.suppress(Exception):
            connection.close()
