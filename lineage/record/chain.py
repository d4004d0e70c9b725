"""The hash chain: canonical JSON, the hash of one record, and verification of a sequence.

    hash(n) = sha256_hex(f"{n}:{hash(n-1)}:" + canonical_json(body(n))),  hash(0) = "0" * 64

Each record's hash covers its sequence number, its body and the previous hash, so changing
a byte, deleting a record or swapping two breaks the chain at the first record touched.
Verification is a pure function of the records in sequence order (and an optional anchor:
a head sequence and hash kept elsewhere, which also catches a truncated or rewritten tail).

    >>> chain_hash(1, GENESIS, '{"kind":"event"}')[:16]
    '007cb182e07871ba'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

GENESIS = "0" * 64


def canonical_json(body: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, ASCII only: the same bytes on every backend and platform."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def chain_hash(seq: int, prev_hash: str, body_text: str) -> str:
    return hashlib.sha256(f"{seq}:{prev_hash}:{body_text}".encode("ascii")).hexdigest()


def derived_columns(body: Mapping[str, Any]) -> dict[str, str | None]:
    """Columns stored beside the body for filtering; verification checks they agree with it."""
    identity = body.get("identity") or {}
    decision = body.get("decision") or {}
    return {
        "time": body.get("time"),
        "kind": body.get("kind"),
        "run_id": identity.get("run_id"),
        "principal": identity.get("principal"),
        "action": decision.get("action"),
    }


@dataclass(frozen=True)
class Entry:
    """One stored record: the chain fields, the body text exactly as hashed, and derived columns."""

    seq: int
    prev_hash: str
    hash: str
    body_text: str
    columns: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.body_text)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash, "body": self.body}


@dataclass(frozen=True)
class Anchor:
    """The head of a ledger at some moment, kept where whoever can rewrite the ledger cannot."""

    seq: int
    hash: str
    time: str | None = None
    ledger: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "time": self.time, "ledger": self.ledger}


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items()}


def verify_entries(entries: Iterable[Entry], head: tuple[int, str] | None = None, anchor: Anchor | None = None) -> Verification:
    """Walk the records in sequence order; stop at the first one that breaks the chain.

    ``head`` is the ledger's own head row (seq, hash), when it keeps one; ``anchor`` an
    anchor taken earlier. Either reaching past the last record means the tail is gone.
    """
    expected_seq, prev_hash, count = 1, GENESIS, 0
    anchor_hash_seen: str | None = None
    for entry in entries:
        problem = _check(entry, expected_seq, prev_hash)
        if problem is not None:
            return Verification(False, count, expected_seq - 1, prev_hash, min(entry.seq, expected_seq), problem)
        if anchor is not None and entry.seq == anchor.seq:
            anchor_hash_seen = entry.hash
        count += 1
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    last_seq = expected_seq - 1
    if head is not None and (head[0], head[1]) != (last_seq, prev_hash):
        if head[0] > last_seq:
            problem = f"the ledger's head is record {head[0]} but the last record is {last_seq}: records {last_seq + 1}..{head[0]} are missing"
            return Verification(False, count, last_seq, prev_hash, last_seq + 1, problem)
        broken = head[0] + 1 if head[0] < last_seq else last_seq
        problem = f"the ledger's head (record {head[0]}, {head[1][:16]}...) does not match its last record ({last_seq}, {prev_hash[:16]}...)"
        return Verification(False, count, last_seq, prev_hash, broken, problem)
    if anchor is not None:
        if anchor.seq > last_seq:
            problem = f"the anchor names record {anchor.seq} but the ledger ends at {last_seq}: the tail was truncated"
            return Verification(False, count, last_seq, prev_hash, last_seq + 1, problem)
        if anchor.seq > 0 and anchor_hash_seen != anchor.hash:
            problem = f"record {anchor.seq} differs from the anchor ({anchor.hash[:16]}...): the chain was rewritten at or before {anchor.seq}"
            return Verification(False, count, last_seq, prev_hash, anchor.seq, problem)
    return Verification(True, count, last_seq, prev_hash)


def _check(entry: Entry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq != expected_seq:
        if entry.seq > expected_seq:
            missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}..{entry.seq - 1}"
            return f"record {missing} is missing (the next record is {entry.seq})"
        return f"record {entry.seq} appears again after {expected_seq - 1}"
    if entry.prev_hash != prev_hash:
        return f"record {entry.seq} does not follow record {entry.seq - 1} (its previous hash differs): records were removed, reordered or replaced"
    if chain_hash(entry.seq, entry.prev_hash, entry.body_text) != entry.hash:
        return f"record {entry.seq} was changed (its content does not match its hash)"
    try:
        body = json.loads(entry.body_text)
    except ValueError:
        return f"record {entry.seq} is not JSON"
    if entry.columns:
        derived = derived_columns(body)
        differing = sorted(key for key, value in entry.columns.items() if key in derived and derived[key] != value)
        if differing:
            return f"record {entry.seq}: the stored {', '.join(differing)} column(s) differ from the hashed record"
    return None
