"""Ledger fills and concurrent writer processes, shared by the ledger and fault tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from lineage.identity.run_identity import RunIdentity


WORKER = Path(__file__).parent / "ledger_worker.py"


SSN = "123-45-6789"


def fill(ledger, count: int = 10) -> list:
    identity = RunIdentity(principal="alice@corp", job_name="fill")
    return [ledger.record_event("test_append", identity, {"marker": f"marker-{n:04d}"}) for n in range(1, count + 1)]


def start_workers(url: str, workers: int, count: int, pause: float = 0.0) -> list[subprocess.Popen]:
    """Worker processes with the ledger open, released to append all at the same moment."""
    processes = [
        subprocess.Popen([sys.executable, str(WORKER), url, str(worker), str(count), str(pause)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for worker in range(workers)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    return processes


def assert_all_appended(ledger, workers: int, count: int) -> None:
    result = ledger.verify()
    assert result.ok, result.problem
    assert result.records == workers * count
    order = [(entry.body["payload"]["worker"], entry.body["payload"]["n"]) for entry in ledger.entries()]
    assert set(order) == {(worker, n) for worker in range(workers) for n in range(count)}
    switches = sum(1 for before, after in zip(order, order[1:]) if before[0] != after[0])
    assert switches > 2 * workers, "the workers did not append concurrently"


def kill_during_appends(url: str, open_reader, rounds: int = 2) -> None:
    """Workers append without pause; SIGKILL them at a moment when appends are in flight."""
    for round_ in range(rounds):
        processes = start_workers(url, 3, 0)
        ledger = open_reader()
        start = ledger.head()[0]
        deadline = time.monotonic() + 20
        while ledger.head()[0] < start + 30 + 17 * round_ and time.monotonic() < deadline:
            time.sleep(0.005)
        for process in processes:
            process.send_signal(signal.SIGKILL)
        for process in processes:
            process.wait(timeout=20)
            assert process.returncode == -signal.SIGKILL
        result = ledger.verify()
        assert result.ok, result.problem
        assert result.records > start
        ledger.close()

