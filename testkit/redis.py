"""A throwaway Redis server (Debian's ``redis-server``) on a free port: the Celery broker of the
deployment tests. In memory only (no RDB or AOF files), gone when stopped.

    with ThrowawayRedis() as redis:
        redis.url          # redis://127.0.0.1:<port>/0
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testkit.postgres import free_port


class RedisUnavailable(RuntimeError):
    pass


def find_redis_server() -> str:
    found = shutil.which("redis-server") or next((p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if Path(p).exists()), None)
    if not found:
        raise RedisUnavailable("redis-server not found: install Debian's redis-server (scripts/setup.sh --for-tests does)")
    return found


@dataclass
class ThrowawayRedis:
    port: int = 0
    root: Path | None = None
    _process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> "ThrowawayRedis":
        self.root = Path(tempfile.mkdtemp(prefix="lineage-redis-"))
        self.port = self.port or free_port()
        command = [find_redis_server(), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                   "--dir", str(self.root), "--logfile", str(self.root / "redis.log"), "--daemonize", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self.ping():
                return self
            time.sleep(0.1)
        log = (self.root / "redis.log").read_text(errors="replace")[-2000:] if (self.root / "redis.log").exists() else ""
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer PING on port {self.port} within {timeout:.0f} s\n{log}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "ThrowawayRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
