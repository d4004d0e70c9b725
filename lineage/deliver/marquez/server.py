"""A small real HTTP server speaking Marquez's ``POST /api/v1/lineage`` contract: a backend to try
the events against without Docker, and the tests' Marquez.

    lineage events serve --port 5000           # or: python -m lineage.deliver.marquez.server --port 5000

    server = MarquezServer().start()           # http://127.0.0.1:<port>
    OPENLINEAGE_URL=server.url ...             # openlineage-python's http transport posts here
    server.stop(); server.start()              # down and up again on the same port
    server.events                              # what it accepted, in arrival order

Answers like Marquez 0.51: **201** for an accepted event, **400** for a body that is not JSON or
a dataset namespace outside Marquez's pattern, **422** when the event breaks the OpenLineage
spec, a standard facet's schema or a rule Marquez refuses events for (body: ``{"errors": [...]}``).
Events this project produced are held to every Marquez rule in docs/marquez.md and our facets to their schemas
(stricter than Marquez, so what passes here Marquez takes as meant); other producers' events
(the Airflow provider's ``airflow*`` facets, column lineage without descriptions) pass as they
pass Marquez.
A second copy of an event is accepted, as Marquez does, and counted in ``duplicates``.
Also serves ``GET /api/v1/events/lineage`` and ``GET /api/v1/jobs/runs/{runId}/facets?type=run|job``.
``fail_next(n, status)`` makes the next ``n`` POSTs fail (503 by default) to exercise retries;
``fail_run(run_id, status)`` fails every POST of one run's events; ``slow_down(seconds, run_id)``
answers slowly (after taking the event, as a slow Marquez does), for every event or one run's.
``copies(event)`` counts how often an event arrived.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from lineage.deliver.marquez import RunHistory, event_checks, stream_checks
from lineage.deliver.marquez.dataset_namespaces import dataset_namespaces
from lineage.deliver.marquez.history import identity_of


class MarquezServer:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", validate: bool = True, latency: float = 0.0):
        self.host = host
        self.port = port
        self.validate = validate
        self.latency = latency
        self.events: list[dict] = []
        self.rejected: list[tuple[int, list[str]]] = []
        self.duplicates = 0
        self.requests = 0
        self._failures: list[int] = []
        self._failing_runs: dict[str, int] = {}
        self._slow: dict[str | None, float] = {}  # run id (None: every event) -> seconds before answering
        self._runs: dict[str, RunHistory] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._validator = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "MarquezServer":
        if self._server is not None:
            return self
        handler = _handler(self)
        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # a client that gave up on a slow answer is no news
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"marquez:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reserve_port(self) -> "MarquezServer":
        """Pick a free port without serving yet (a backend that is down)."""
        self.start()
        self.stop()
        return self

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def fail_run(self, run_id: str, status: int | None = 500) -> None:
        """Answer ``status`` to every event of run ``run_id`` (None: stop)."""
        with self._lock:
            if status is None:
                self._failing_runs.pop(run_id, None)
            else:
                self._failing_runs[run_id] = status

    def slow_down(self, seconds: float, run_id: str | None = None) -> None:
        """Answer after ``seconds`` (0: at once again), for every event or one run's."""
        with self._lock:
            if seconds:
                self._slow[run_id] = seconds
            else:
                self._slow.pop(run_id, None)

    def delay_for(self, body: bytes) -> float:
        with self._lock:
            if not self._slow:
                return 0.0
            slow = dict(self._slow)
        return slow.get(_run_id(body), slow.get(None, 0.0))

    def copies(self, event: dict) -> int:
        """How many copies of ``event`` (same run, type and time) arrived."""
        wanted = identity_of(event)
        with self._lock:
            return sum(1 for seen in self.events if identity_of(seen) == wanted)

    def __enter__(self) -> "MarquezServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the contract ------------------------------------------------------------------------

    def receive(self, body: bytes) -> tuple[int, dict]:
        with self._lock:
            self.requests += 1
            if self._failures:
                return self._failures.pop(0), {"error": "unavailable (simulated)"}
            failing = dict(self._failing_runs)
        if failing:
            status = failing.get(_run_id(body))
            if status is not None:
                return status, {"error": "failing (simulated)"}
        try:
            event = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return 400, {"errors": [f"not JSON: {error}"]}
        if not isinstance(event, dict):
            return 400, {"errors": ["an event is a JSON object"]}
        bad_namespaces = list(dataset_namespaces(event))
        if bad_namespaces:
            with self._lock:
                self.rejected.append((400, bad_namespaces))
            return 400, {"errors": bad_namespaces}
        with self._lock:
            run_id = str((event.get("run") or {}).get("runId"))
            history = self._runs.get(run_id)
            problems = self._problems(event, history) if self.validate else []
            if problems:
                self.rejected.append((422, problems))
                return 422, {"errors": problems}
            if history is not None and identity_of(event) in history.seen:
                self.duplicates += 1
            self._runs.setdefault(run_id, RunHistory()).record(event)
            self.events.append(event)
        return 201, {}

    def _problems(self, event: dict, history: RunHistory | None) -> list[str]:
        if self._validator is None:
            from lineage.deliver.validate import Validator

            self._validator = Validator()
        problems = [*self._validator.spec_problems(event), *self._validator.facet_problems(event)]
        for check in event_checks(event).values():
            problems.extend(check(event))
        for name, check in stream_checks(event).items():
            if name != "emitted_once":  # Marquez accepts a second copy; counted in duplicates instead
                problems.extend(check(event, history))
        return problems

    def run_facets(self, run_id: str, kind: str = "run") -> dict:
        """Marquez's ``GET /api/v1/jobs/runs/{runId}/facets``: newest value per key wins."""
        merged: dict = {}
        with self._lock:
            for event in self.events:
                if (event.get("run") or {}).get("runId") != run_id:
                    continue
                source = (event.get("run") or {}) if kind == "run" else (event.get("job") or {})
                merged.update(source.get("facets") or {})
        return {"runId": run_id, "facets": merged}


def _run_id(body: bytes) -> str | None:
    try:
        return str((json.loads(body).get("run") or {}).get("runId"))
    except (ValueError, AttributeError):
        return None


def _handler(owner: MarquezServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = 65536  # headers and body leave in one write (no delayed-ACK stall)

        def log_message(self, format, *args):  # quiet: tests read the server's state instead
            pass

        def _send(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if urlparse(self.path).path.rstrip("/") != "/api/v1/lineage":
                self._send(404, {"error": "not found"})
                return
            if owner.latency:
                time.sleep(owner.latency)
            status, payload = owner.receive(body)
            delay = owner.delay_for(body)
            if delay:
                time.sleep(delay)  # the event is taken; the answer is late
            self._send(status, payload)

        def do_GET(self):  # noqa: N802
            parsed = urlparse(self.path)
            parts = [part for part in parsed.path.split("/") if part]
            query = parse_qs(parsed.query)
            if parts == ["api", "v1", "events", "lineage"]:
                limit = int((query.get("limit") or ["100"])[0])
                with owner._lock:
                    events = list(reversed(owner.events))[:limit]
                    total = len(owner.events)
                self._send(200, {"events": events, "totalCount": total})
            elif len(parts) == 6 and parts[:4] == ["api", "v1", "jobs", "runs"] and parts[5] == "facets":
                self._send(200, owner.run_facets(parts[4], (query.get("type") or ["run"])[0]))
            else:
                self._send(404, {"error": "not found"})

    return Handler


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000, Marquez's API port)")
    parser.add_argument("--no-validate", action="store_true", help="accept any JSON event (for benchmarks: the backend costs little)")


def serve(host: str = "127.0.0.1", port: int = 5000, validate: bool = True) -> int:
    """Run until interrupted (Ctrl-C)."""
    server = MarquezServer(port, host, validate=validate).start()
    print(f"Marquez-contract server on {server.url}/api/v1/lineage (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineage.deliver.marquez.server", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return serve(args.host, args.port, not args.no_validate)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
