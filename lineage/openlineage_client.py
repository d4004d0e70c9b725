"""openlineage-python's event and facet models, without loading its client's transports first.

``openlineage.client``'s package ``__init__`` imports the client and, with it, every transport
(httpx, requests, asyncio, Kafka and file support): about 0.6 s of CPU on a 2-core EPYC in each
process that only builds events, which is every ``lineage`` command and the dbt sidecar.
Importing a submodule such as ``openlineage.client.event_v2`` runs that ``__init__`` first.

``defer_client_init()`` lets the package's ``__init__`` run when something first asks the
package itself for a name (``from openlineage.client import OpenLineageClient``, or any attribute)
instead of when a submodule is imported; the submodules load as usual. Nothing else changes:
the same ``__init__`` runs, once, before any of its names is read.

    defer_client_init()
    import openlineage.client.event_v2                  -> the models; no client, no transport
    from openlineage.client import OpenLineageClient    -> the package's __init__ runs now
"""

from __future__ import annotations

import importlib.machinery
import _thread
import sys

PACKAGE = "openlineage.client"


class _DeferredInit:  # a loader (importlib.abc is not imported: it costs more than this saves in small commands)
    """Creates the package module as its loader would, and runs its ``__init__`` at the first name read."""

    def __init__(self, loader):
        self.loader = loader
        self.lock = _thread.RLock()

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        state = {"ran": False}
        loader, lock = self.loader, self.lock

        def __getattr__(name: str):
            with lock:
                if not state["ran"]:
                    state["ran"] = True  # while __init__ runs, a name it has not set yet is missing, as usual
                    loader.exec_module(module)
                    if name in module.__dict__:
                        return module.__dict__[name]
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")

        module.__getattr__ = __getattr__


class _Finder:  # a meta path finder
    def find_spec(self, fullname, path, target=None):
        if fullname != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return spec
        spec.loader = _DeferredInit(spec.loader)
        return spec


_FINDER = _Finder()


def defer_client_init() -> None:
    """Install the deferral (no effect when ``openlineage.client`` is already imported)."""
    if PACKAGE not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
