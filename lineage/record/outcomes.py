"""Statements whose outcome is unknown: recognising them, finding them in the ledger, settling them.

    connection_lost(error)       -> True: the database went away mid-statement, so it may have run
    unsettled(entries)           -> the statements among ``entries`` that started and have no
                                    recorded outcome (finished, failed) and no settlement
    settlement(entry, ran=True, rows=3, evidence="counted crm.orders", by="alice")
                                 -> the payload of the ``outcome_settled`` record that closes one
    RetryGuard(ledger, earlier_runs).check(decision, identity)
                                 -> refuses a statement that an earlier try of the same work left
                                    unsettled (raises ``OutcomeUnsettled``)

A statement is unsettled when its ``started`` record has no matching ``finished`` or ``failed``
record (the ledger was down when it ended, or the process died) or when its end is ``unknown``
(the connection to the database was lost while it ran). Running it again blind could do its
work twice; the operator looks (the target's rows; the database's log, where the statement
carries its run id in a comment) and settles it with ``lineage ledger reconcile``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any, Callable, Iterable, Sequence

from lineage.decide.analysis.read_only import read_only

SETTLED = "outcome_settled"
_CONNECTION_STATES = ("08", "57P")  # connection exceptions; admin, crash and "cannot connect now" shutdowns


class OutcomeUnsettled(Exception):
    """An earlier try of this statement has an unknown outcome; ``entry`` is its ``started`` record."""

    def __init__(self, message: str, entry: Any):
        super().__init__(message)
        self.entry = entry


def connection_lost(error: BaseException) -> bool:
    """True when ``error`` says the connection to the database broke, not that the statement
    failed: then the statement may or may not have run (and committed) on the server."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        if isinstance(current, (ConnectionError, BrokenPipeError, TimeoutError)):
            return True
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if state is not None:
            return str(state).startswith(_CONNECTION_STATES)
        if type(current).__name__ in ("OperationalError", "InterfaceError") and type(current).__module__.split(".")[0] in ("psycopg", "psycopg2"):
            return True  # no SQLSTATE: the driver lost the server (psycopg: "server closed the connection unexpectedly")
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__  # SQLAlchemy wraps the driver's error in .orig
        seen += 1
    return False


def unsettled(entries: Iterable[Any]) -> list[Any]:
    """The ``started`` entries without a recorded outcome or settlement, oldest first.

    Starts and ends pair up first in, first out within one run and statement fingerprint;
    an ``unknown`` end leaves its start unsettled; an ``outcome_settled`` record settles the
    start it names."""
    open_: dict[tuple, deque] = defaultdict(deque)
    unknown: list[Any] = []
    settled: set[int] = set()
    for entry in entries:
        body = entry.body
        if body.get("kind") == SETTLED:
            seq = (body.get("payload") or {}).get("seq")
            if isinstance(seq, int):
                settled.add(seq)
            continue
        if body.get("kind") != "statement":
            continue
        key = ((body.get("identity") or {}).get("run_id"), (body.get("statement") or {}).get("fingerprint"))
        phase = body.get("phase")
        if phase == "started":
            open_[key].append(entry)
        elif phase in ("finished", "failed") and open_[key]:
            open_[key].popleft()
        elif phase == "unknown" and open_[key]:
            unknown.append(open_[key].popleft())
    waiting = unknown + [entry for starts in open_.values() for entry in starts]
    return sorted((entry for entry in waiting if entry.seq not in settled), key=lambda entry: entry.seq)


def settlement(entry: Any, ran: bool, rows: int | None, evidence: str, by: str) -> dict[str, Any]:
    """The payload of the record that settles ``entry`` (a ``started`` statement record)."""
    statement = entry.body.get("statement") or {}
    return {
        "seq": entry.seq,
        "hash": entry.hash,
        "outcome": "ran" if ran else "not_run",
        "rows": rows,
        "evidence": evidence,
        "settled_by": by,
        "fingerprint": statement.get("fingerprint"),
    }


class RetryGuard:
    """Refuses a statement that an earlier try of the same work left unsettled, unless it only reads.

    ``earlier_runs(identity)`` names the run ids of the earlier tries (an Airflow task's earlier
    try numbers); their ledger records are read once per try (by run id, an indexed column)."""

    def __init__(self, ledger: Any, earlier_runs: Callable[[Any], Sequence[str]]):
        self.ledger = ledger
        self.earlier_runs = earlier_runs
        self._cache: dict[str, list[Any]] = {}

    def check(self, decision: Any, identity: Any) -> None:
        if read_only(decision.facts):  # running a query again does no work twice
            return
        waiting = self._unsettled(identity)
        if not waiting:
            return
        from lineage.fingerprint import normalize

        fingerprint = normalize(decision.original_sql, decision.facts.dialect)[1]
        for entry in waiting:
            if (entry.body.get("statement") or {}).get("fingerprint") == fingerprint:
                run = (entry.body.get("identity") or {}).get("run_id")
                raise OutcomeUnsettled(
                    f"lineage-governance: statement #{decision.index} is not run again: an earlier try (run {run}) ran it and its "
                    f"outcome is unknown (ledger record {entry.seq}), so it may have done its work already. Check the target, "
                    f"then settle it: `lineage ledger reconcile --seq {entry.seq} --ran` (it ran) or `--not-run`, and run again.",
                    entry,
                )

    def _unsettled(self, identity: Any) -> list[Any]:
        if identity.run_id not in self._cache:
            from lineage.record import Filters

            runs = [run for run in self.earlier_runs(identity) if run and run != identity.run_id]
            entries = [entry for run in runs for entry in self.ledger.entries(Filters(run_id=run))]
            self._cache = {identity.run_id: unsettled(sorted(entries, key=lambda entry: entry.seq))}
        return self._cache[identity.run_id]

