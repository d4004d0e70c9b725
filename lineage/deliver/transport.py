"""The spool's way out: openlineage-python's own client and transports.

The transport is whatever openlineage-python's configuration says (``OPENLINEAGE_URL``,
``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml`` / ``OPENLINEAGE_CONFIG``): http for Marquez,
file, console, kafka, composite. Spooled events are JSON; ``revive`` turns one back into an
``event_v2`` event (facets stay plain JSON) so ``OpenLineageClient.emit`` applies the user's
filters and tags exactly as for any other event.

The spool owns retries (in order, with backoff, on disk): the http transport's own urllib3
retries are replaced by connect-only retries, because a retried POST after a read timeout
could deliver the same event twice. ``outcome`` sorts a failed send by what the backend may
have seen (nothing, an answer, or the event without an answer); ``set_read_timeout`` lets the
spool wait longer for a slow backend.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# connection errors are retried in place (nothing was sent); anything else goes back to the spool
SPOOL_HTTP_RETRY = {
    "total": 3,
    "connect": 3,
    "read": 0,
    "status": 0,
    "other": 0,
    "redirect": 3,
    "backoff_factor": 0.1,
    "allowed_methods": ["POST"],
    "raise_on_status": False,
}
RETRYABLE_STATUS = {408, 425, 429}


def transport_configured(env: dict[str, str] | None = None) -> bool:
    """True when openlineage-python would find a transport other than its console fallback."""
    env = os.environ if env is None else env
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or env.get("OPENLINEAGE_CONFIG"):
        return True
    if any(key.startswith("OPENLINEAGE__TRANSPORT") for key in env):
        return True
    return (Path.cwd() / "openlineage.yml").is_file() or (Path.home() / ".openlineage" / "openlineage.yml").is_file()


def new_client():
    """An ``OpenLineageClient`` from the standard configuration, with the spool's retry policy."""
    from openlineage.client import OpenLineageClient

    client = OpenLineageClient()
    own_retries(client.transport)
    return client


def client_from_config(config: dict[str, Any]):
    """An ``OpenLineageClient`` for an explicit configuration (``{"transport": {...}}``), with
    the spool's retry policy: for tests, the demo and programs that configure in code."""
    from openlineage.client import OpenLineageClient

    client = OpenLineageClient(config=config)
    own_retries(client.transport)
    return client


def own_retries(transport: Any) -> None:
    from openlineage.client.transport.http import HttpTransport

    if isinstance(transport, HttpTransport):
        transport.config.retry = dict(SPOOL_HTTP_RETRY)
        transport.session = None  # the adapter is rebuilt with the new retry policy on first use
    for child in getattr(transport, "transports", None) or ():
        own_retries(child)


def transport_description(client: Any) -> str:
    transport = client.transport
    kind = getattr(transport, "kind", None) or type(transport).__name__
    url = getattr(transport, "url", None)
    children = getattr(transport, "transports", None)
    if children:
        return f"{kind}[" + ", ".join(transport_description(_Wrapper(child)) for child in children) + "]"
    return f"{kind} {url}".strip() if url else str(kind)


class _Wrapper:
    def __init__(self, transport: Any):
        self.transport = transport


def _client_facets(facets: dict, owner: str) -> dict:
    """The facets ``OpenLineageClient.emit`` merges into (tags, environmentVariables) as its own
    classes; every other facet stays plain JSON."""
    from openlineage.client.facet_v2 import environment_variables_run, tags_job, tags_run

    facets = dict(facets or {})
    tags = facets.get("tags")
    if isinstance(tags, dict):
        module, name = (tags_run, "TagsRunFacet") if owner == "run" else (tags_job, "TagsJobFacet")
        fields = getattr(module, name + "Fields")
        facets["tags"] = getattr(module, name)(
            tags=[fields(key=t["key"], value=t["value"], source=t.get("source")) for t in tags.get("tags") or ()],
            producer=tags.get("_producer", ""),
        )
    variables = facets.get("environmentVariables")
    if owner == "run" and isinstance(variables, dict):
        facets["environmentVariables"] = environment_variables_run.EnvironmentVariablesRunFacet(
            environmentVariables=[
                environment_variables_run.EnvironmentVariable(name=v["name"], value=v["value"]) for v in variables.get("environmentVariables") or ()
            ],
            producer=variables.get("_producer", ""),
        )
    return facets


def revive(body: str):
    """A spooled JSON event as an ``event_v2`` event for ``OpenLineageClient.emit``."""
    from openlineage.client import event_v2

    data = json.loads(body)
    if "run" in data:
        return event_v2.RunEvent(
            eventType=event_v2.RunState(data["eventType"]) if data.get("eventType") else None,
            eventTime=data["eventTime"],
            producer=data.get("producer", ""),
            run=event_v2.Run(runId=data["run"]["runId"], facets=_client_facets(data["run"].get("facets"), "run")),
            job=event_v2.Job(namespace=data["job"]["namespace"], name=data["job"]["name"], facets=_client_facets(data["job"].get("facets"), "job")),
            inputs=[
                event_v2.InputDataset(namespace=d["namespace"], name=d["name"], facets=d.get("facets") or {}, inputFacets=d.get("inputFacets") or {})
                for d in data.get("inputs") or ()
            ],
            outputs=[
                event_v2.OutputDataset(namespace=d["namespace"], name=d["name"], facets=d.get("facets") or {}, outputFacets=d.get("outputFacets") or {})
                for d in data.get("outputs") or ()
            ],
        )
    if "dataset" in data:
        dataset = data["dataset"]
        return event_v2.DatasetEvent(
            eventTime=data["eventTime"],
            producer=data.get("producer", ""),
            dataset=event_v2.StaticDataset(namespace=dataset["namespace"], name=dataset["name"], facets=dataset.get("facets") or {}),
        )
    return event_v2.JobEvent(
        eventTime=data["eventTime"],
        producer=data.get("producer", ""),
        job=event_v2.Job(namespace=data["job"]["namespace"], name=data["job"]["name"], facets=data["job"].get("facets") or {}),
        inputs=[event_v2.InputDataset(namespace=d["namespace"], name=d["name"], facets=d.get("facets") or {}) for d in data.get("inputs") or ()],
        outputs=[event_v2.OutputDataset(namespace=d["namespace"], name=d["name"], facets=d.get("facets") or {}) for d in data.get("outputs") or ()],
    )


def is_permanent(error: BaseException) -> bool:
    """A failure that retrying cannot fix: a 4xx answer (except timeouts and rate limits), or an
    event the client itself cannot process (a programming error, deterministic for that event).
    Those events go to the spool's rejected table; everything else (the network, 5xx, a broker
    that is away) is retried."""
    import requests

    if isinstance(error, (AttributeError, TypeError, KeyError, IndexError, ValueError)) and not isinstance(error, requests.RequestException):
        return True
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status is not None and 400 <= status < 500 and status not in RETRYABLE_STATUS


def describe_error(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        text = ""
        try:
            text = (response.text or "")[:300]
        except Exception:  # pragma: no cover - a body we cannot read
            pass
        return f"HTTP {response.status_code}: {text}".strip()
    return f"{type(error).__name__}: {error}"[:500]


# what a failed send means for the event (``outcome``)
UNREACHED = "unreached"  # nothing reached the backend: refused, unresolvable, connect timeout
ANSWERED = "answered"  # the backend answered with an error: it did not take the event
UNCONFIRMED = "unconfirmed"  # sent, but no answer came (read timeout, connection dropped): it may have it
FAILED = "failed"  # anything else (another transport's error): retried, not counted as a send


def outcome(error: BaseException) -> str:
    """What the backend may have seen of a send that raised ``error``."""
    if getattr(getattr(error, "response", None), "status_code", None) is not None:
        return ANSWERED
    names = set()
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 20:
        names.add(type(current).__name__)
        reason = getattr(current.args[0], "reason", None) if current.args else None
        if isinstance(reason, BaseException):
            names.add(type(reason).__name__)
        current = current.__cause__ or current.__context__
        seen += 1
    if names & {"NewConnectionError", "ConnectTimeoutError", "ConnectTimeout", "NameResolutionError", "ConnectionRefusedError"}:
        return UNREACHED
    if names & {"ReadTimeoutError", "ReadTimeout", "ProtocolError", "RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "ChunkedEncodingError"}:
        return UNCONFIRMED
    return FAILED


def http_transports(client: Any) -> list:
    from openlineage.client.transport.http import HttpTransport

    found, pending = [], [client.transport]
    while pending:
        transport = pending.pop()
        if isinstance(transport, HttpTransport):
            found.append(transport)
        pending.extend(getattr(transport, "transports", None) or ())
    return found


def read_timeout(client: Any) -> float | None:
    """The configured timeout of the client's http transport(s), None when there is none."""
    timeouts = [t.config.timeout for t in http_transports(client)]
    return max(timeouts) if timeouts else None


def set_read_timeout(client: Any, seconds: float) -> None:
    """Wait up to ``seconds`` for answers (connecting keeps its configured timeout)."""
    for transport in http_transports(client):
        transport.timeout = (transport.config.timeout, seconds)
