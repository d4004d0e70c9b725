"""Waiting for PostgreSQL's CSV log, shared by the correlation tests."""

from __future__ import annotations

import csv
import time


def log_rows(postgres) -> list[list[str]]:
    rows = []
    for path in postgres.csv_logs():
        with path.open(newline="", encoding="utf-8") as handle:
            rows += list(csv.reader(handle))
    return rows


def wait_for_log(postgres, marker: str, timeout: float = 10.0) -> list[list[str]]:
    """The logging collector writes asynchronously: wait until ``marker`` shows up."""
    deadline = time.monotonic() + timeout
    while True:
        rows = log_rows(postgres)
        if any(marker in row[13] for row in rows if len(row) > 13):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} not in the csvlog after {timeout}s")
        time.sleep(0.05)

