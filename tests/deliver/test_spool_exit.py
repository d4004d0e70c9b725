"""A process that exits the way Airflow's task runner does (atexit handlers, then ``os._exit``)
while its spool still has events to send: whatever it did not deliver within its exit wait is
delivered by the next process, and nothing twice.

Found on a real Celery deployment (tests/deployment): four task processes per worker share one
spool; the exiting one's sender went on draining past the exit wait, was cut off between the
backend's answer and the delete, and the next process sent that event again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lineage.deliver.emit import serialize
from lineage.deliver.spool import Spool
from lineage.deliver.marquez.server import MarquezServer
from delivery_support import http_client, order_of, run_events

ROOT = Path(__file__).resolve().parents[2]

TASK_PROCESS = r"""
import atexit, json, os, sys, time
from lineage.deliver.spool import Spool
from lineage.deliver.transport import client_from_config

url, path = sys.argv[1], sys.argv[2]
spool = Spool(path, client_factory=lambda: client_from_config({"transport": {"type": "http", "url": url, "timeout": 5}}))
for line in sys.stdin:
    spool.write(line.strip())
time.sleep(1.0)           # the rest of the task
atexit._run_exitfuncs()   # what airflow.sdk's task runner does before os._exit
os._exit(0)
"""


def test_an_exiting_process_sends_no_event_twice(tmp_path):
    events = run_events(40)
    with MarquezServer(latency=0.15, validate=False) as server:
        path = tmp_path / "spool.db"
        env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LINEAGE_EVENTS_EXIT_WAIT": "0.5"}
        body = "\n".join(serialize(event) for event in events) + "\n"
        result = subprocess.run([sys.executable, "-c", TASK_PROCESS, server.url, str(path)], input=body, text=True, env=env, capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        sent_by_the_task = len(server.events)
        assert sent_by_the_task < len(events)  # it exited with events left: the next process sends them
        next_process = Spool(path, client_factory=http_client(server), poll_interval=0.02)
        try:
            next_process.flush(timeout=30)
            assert next_process.pending() == 0
        finally:
            next_process.close()
        assert server.duplicates == 0, f"{server.duplicates} event(s) sent twice"
        assert order_of(server.events) == order_of(events)


def test_an_exiting_process_waits_for_its_own_events_not_for_the_other_processes(tmp_path):
    """Four task processes of a worker share its spool: one that exits waits until its own events
    are out, however busy the others keep the spool; one that wrote nothing does not wait."""
    import threading
    import time

    with MarquezServer(validate=False, latency=0.02) as server:  # slower to deliver than the others write
        path = tmp_path / "spool.db"
        exiting = Spool(path, client_factory=http_client(server), poll_interval=0.02)
        others = Spool(path, client_factory=http_client(server), sender=False)
        idle = Spool(path, client_factory=http_client(server), sender=False)
        stop = threading.Event()

        bodies = [serialize(event) for event in run_events(200)]  # made beforehand: the writer must not hog the GIL

        def busy():  # another task process, writing all the time
            for number in range(100_000):
                if stop.is_set():
                    return
                others.write(bodies[number % len(bodies)])
                time.sleep(0.005)

        writer = threading.Thread(target=busy, daemon=True)
        try:
            for event in run_events(4):
                exiting.write(serialize(event))
            for event in run_events(100):  # the others' events, after ours
                others.write(serialize(event))
            writer.start()
            started = time.monotonic()
            assert exiting.close(timeout=5.0) is not None
            waited = time.monotonic() - started
            assert waited < 2.0, f"close waited {waited:.1f} s for the other process's events"
            assert {"job00000", "job00001"} <= {event["job"]["name"] for event in server.events}
            started = time.monotonic()
            idle.close(timeout=5.0)
            assert time.monotonic() - started < 1.0
        finally:
            stop.set()
            writer.join(5)
            others.close()
