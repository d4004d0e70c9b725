"""``lineage report``: one self-contained HTML page from the ledger and the OpenLineage events."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from lineage.evidence.report.collect import RunView, collect, load_events
from lineage.evidence.report.html import render


def build_report(ledger, event_files: Iterable[str | Path] = (), run_id: str | None = None) -> tuple[str, list[RunView]]:
    """The HTML text and the runs it shows; ``ledger`` is an open ledger (it is verified)."""
    files = [str(path) for path in event_files]
    entries = list(ledger.entries())
    runs = collect(entries, load_events(files))
    if run_id:
        runs = [run for run in runs if run.run_id == run_id]
    return render(runs, ledger.verify(), ledger.url, files), runs


__all__ = ["build_report", "collect", "load_events", "render"]
