"""A throwaway PostgreSQL 15 server in a temp dir on a free port, started and stopped by the caller.

Debian's ``postgresql-15`` keeps its server binaries off PATH; initdb refuses root, so as
root the cluster belongs to the ``postgres`` user. About one second to start. With
``csvlog=True`` the server writes a CSV log with every statement (``log_statement=all``),
which ``lineage correlate`` and the tests read. ``halt``/``resume``/``restart`` stop and start the
same server (data and port kept), for fault tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    configured = os.environ.get("LINEAGE_PG_BINDIR")
    candidates = [configured] if configured else []
    try:
        listing = subprocess.run(["dpkg", "-L", "postgresql-15"], capture_output=True, text=True, check=False).stdout
        candidates += [str(Path(line).parent) for line in listing.splitlines() if line.endswith("/bin/initdb")]
    except FileNotFoundError:
        pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found: install Debian's postgresql-15 "
        "(apt-get install -y postgresql-15) or set LINEAGE_PG_BINDIR"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ThrowawayPostgres:
    csvlog: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    password: str | None = None  # set: TCP logins need passwords (scram-sha-256), as in production
    port: int = 0
    root: Path | None = None
    _as_postgres: bool = False

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres", password=self.password)

    def dsn_for(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{database}"

    @property
    def log_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data" / "log"

    def csv_logs(self) -> list[Path]:
        return sorted(self.log_dir.glob("*.csv"))

    def start(self) -> "ThrowawayPostgres":
        bindir = find_bindir()
        self._as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="lineage-pg-"))
        if self._as_postgres:
            _ensure_postgres_user()
            shutil.chown(self.root, "postgres", "postgres")
        self.port = self.port or free_port()
        auth = ["-A", "trust"]
        if self.password:
            password_file = self.root / "pwfile"
            password_file.write_text(self.password + "\n")
            if self._as_postgres:
                shutil.chown(password_file, "postgres", "postgres")
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"]
        self._run([str(bindir / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", *auth, "-E", "UTF8", "--no-sync", "--locale=C"])
        options = ["-c listen_addresses=127.0.0.1", f"-p {self.port}", f"-k {self.root}", "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200"]
        if self.csvlog:
            options += [
                "-c logging_collector=on",
                "-c log_destination=csvlog",
                "-c log_directory=log",
                "-c log_statement=all",
                "-c log_connections=on",
                "-c log_min_messages=warning",
            ]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        self._options = " ".join(options)
        self.resume()
        return self

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (``resume`` starts it again on the same port).
        ``fast`` ends sessions and rolls back what they were doing; ``immediate`` is a crash."""
        self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "-t", "60", "stop"])

    def resume(self) -> None:
        assert self.root is not None
        self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-t", "60", "-l", str(self.root / "server.log"), "-o", self._options, "start"])

    def restart(self, mode: str = "fast") -> None:
        self.halt(mode)
        self.resume()

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"], check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self, command: list[str], check: bool = True) -> None:
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            log = ""
            if self.root and (self.root / "server.log").exists():
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise PostgresUnavailable(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}\n{log}")


def _ensure_postgres_user() -> None:
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], check=True)
