"""Events and a Marquez-contract server for the delivery tests: events numbered by job, waits."""

from __future__ import annotations

import json
import time
from lineage.deliver.build import job_event
from lineage.deliver.emit import serialize
from lineage.deliver.transport import client_from_config
from lineage.identity.run_identity import RunIdentity
from openlineage.client.event_v2 import RunState


def http_client(server):
    return lambda: client_from_config({"transport": {"type": "http", "url": server.url, "timeout": 5}})


def run_events(count):
    """``count`` events: START and COMPLETE of count/2 job runs, numbered in the job name."""
    events = []
    for number in range(count // 2):
        identity = RunIdentity(principal="svc:test", job_namespace="delivery", job_name=f"job{number:05d}")
        events.append(job_event(RunState.START, identity, job_type="JOB"))
        events.append(job_event(RunState.COMPLETE, identity, job_type="JOB"))
    return events


def order_of(events):
    plain = [event if isinstance(event, dict) else json.loads(serialize(event)) for event in events]
    return [(event["job"]["name"], event["eventType"]) for event in plain]


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()

