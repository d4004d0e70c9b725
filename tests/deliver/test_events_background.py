"""Events built and written off the statement's path (``EventEmitter(background=True)``, the
Airflow plugin's): the governed statement does not wait for its events, they reach the sinks in
order, ``flush`` (a task's end) waits for all of them, and none is lost when the process exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from lineage.deliver.emit import EventEmitter, JsonlSink
from lineage.deliver.governance import GovernanceEvents
from lineage.deliver.validate import validate_event
from lineage.governor import Governor

ROOT = Path(__file__).resolve().parents[2]


class GatedSink:
    """Takes events only once ``gate`` is open: a backend that is slow to take them."""

    def __init__(self):
        self.gate = threading.Event()
        self.bodies: list[str] = []

    def write(self, body: str) -> None:
        self.gate.wait(30)
        self.bodies.append(body)

    def close(self, timeout: float = 0.0) -> None:
        pass


def test_the_statement_does_not_wait_for_its_events_and_flush_waits_for_all(engine, identity):
    sink = GatedSink()
    emitter = EventEmitter([sink], background=True)
    governor = Governor(engine, events=GovernanceEvents(emitter, engine))
    ran = []
    governor.execute("select id from crm.customers; select id from crm.orders", identity, ran.append)
    assert len(ran) == 2 and sink.bodies == []  # both statements ran while no event could be written
    assert not emitter.flush(timeout=0.2)
    sink.gate.set()
    assert emitter.flush(timeout=30)
    events = [json.loads(body) for body in sink.bodies]
    assert [(event["eventType"], event["job"]["name"].rsplit(".", 1)[-1]) for event in events] == [
        ("START", "1"), ("COMPLETE", "1"), ("START", "2"), ("COMPLETE", "2")
    ]
    for event in events:
        assert validate_event(event) == []


def test_an_event_keeps_the_time_of_its_statement_not_of_its_writing(engine, identity):
    sink = GatedSink()
    emitter = EventEmitter([sink], background=True)
    governor = Governor(engine, events=GovernanceEvents(emitter, engine))
    governor.execute("select id from crm.customers", identity, lambda sql: None)
    import time

    time.sleep(0.3)
    sink.gate.set()
    emitter.flush()
    start, complete = (json.loads(body) for body in sink.bodies)
    from datetime import datetime

    written = datetime.now().astimezone()
    for event in (start, complete):
        assert (written - datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))).total_seconds() >= 0.25


EXITING = r"""
import sys, time
from lineage.deliver.emit import EventEmitter, JsonlSink
from lineage.deliver.build import job_event
from lineage.deliver.build import EventType
from lineage.identity.run_identity import RunIdentity

class SlowSink(JsonlSink):
    def write(self, body):
        time.sleep(0.002)
        super().write(body)

emitter = EventEmitter([SlowSink(sys.argv[1])], background=True)
identity = RunIdentity(principal="svc:test", job_name="exit")
for number in range(300):
    emitter.emit(job_event(EventType.START, identity.with_(job_name=f"exit.{number}"), job_type="TASK"))
print("queued", flush=True)
"""


def test_no_event_is_lost_when_the_process_exits_with_events_queued(tmp_path):
    path = tmp_path / "events.jsonl"
    result = subprocess.run([sys.executable, "-c", EXITING, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "queued"
    names = [json.loads(line)["job"]["name"] for line in path.read_text().splitlines()]
    assert names == [f"exit.{number}" for number in range(300)]


def test_without_background_emit_writes_before_it_returns(tmp_path, engine, identity):
    path = tmp_path / "events.jsonl"
    governor = Governor(engine, events=GovernanceEvents(EventEmitter([JsonlSink(path)]), engine))
    governor.execute("select id from crm.customers", identity, lambda sql: None)
    assert len(path.read_text().splitlines()) == 2
