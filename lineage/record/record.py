"""The body of a ledger record: what one statement was, who ran it, what was decided, what happened.

    statement_record(identity, decision, "finished", rows=3, duration_ms=1.2)
    -> {"v": 1, "kind": "statement", "phase": "finished", "time": "...Z",
        "identity": {...}, "statement": {"fingerprint": "fp:...", "sql": "SELECT ... WHERE ssn = ?", ...},
        "decision": {"action": "allow", "findings": [...], "policy_version": "sha256:...", ...},
        "tables": {"read": [...], "written": [...]}, "masked_columns": [...],
        "rows": 3, "duration_ms": 1.2, "error": null, "approval": null}

No raw literal value reaches a body: SQL is stored normalised (``lineage.fingerprint``),
finding texts lose the statement's literals, and errors lose quoted values and numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from lineage.fingerprint import literal_values, normalize
from lineage.identity.run_identity import RunIdentity
from lineage.disclosure import shown_findings, statement_names
from lineage.disclosure import scrub_literals, scrub_values
from lineage.model import Decision

RECORD_VERSION = 1
PHASES = ("refused", "started", "finished", "failed", "unknown")  # unknown: the connection broke while it ran


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def statement_record(identity: RunIdentity, decision: Decision, phase: str, details: Mapping[str, Any] | None = None, time: str | None = None) -> dict[str, Any]:
    if phase not in PHASES:
        raise ValueError(f"ledger phase {phase!r} is not one of {', '.join(PHASES)}")
    details = details or {}
    facts = decision.facts
    dialect = facts.dialect
    sql, fp = normalize(decision.original_sql, dialect)
    # what ran is the decision's SQL; the governor's executed_sql only adds the identity comment,
    # which normalising drops (and which would make every run's statement a cache miss)
    executed_sql, executed_fp = normalize(decision.sql, dialect)
    findings = [finding.to_dict() for finding in shown_findings(decision)]
    statement: dict[str, Any] = {"index": decision.index, "kind": facts.kind, "dialect": dialect, "fingerprint": fp, "sql": sql}
    if executed_fp != fp:
        statement["executed_fingerprint"] = executed_fp
        statement["executed_sql"] = executed_sql
    approval = {key: details.get(source) for key, source in (("id", "approval_id"), ("request", "approval_request")) if details.get(source)}
    if approval.get("id") and isinstance(details.get("approval_evidence"), Mapping):
        approval.update(details["approval_evidence"])  # approver, key id, signature and the signed payload
    return {
        "v": RECORD_VERSION,
        "kind": "statement",
        "phase": phase,
        "time": time or now(),
        "identity": identity.to_dict(),
        "statement": statement,
        "decision": {
            "action": decision.action.value,
            "effective_action": decision.effective_action.value,
            "mode": decision.mode,
            "policy_version": decision.policy_version,
            "findings": findings,
        },
        "tables": {"read": list(facts.reads), "written": list(facts.writes)},
        "masked_columns": [column.qualified for column in decision.masked_columns],
        "rows": _int_or_none(details.get("rows")),
        "duration_ms": round(float(details["duration_ms"]), 3) if details.get("duration_ms") is not None else None,
        "error": _error(details.get("error"), phase, decision),
        "approval": approval or None,
    }


def event_record(kind: str, identity: RunIdentity | None, payload: Mapping[str, Any], time: str | None = None) -> dict[str, Any]:
    """A record of something other than a statement (approval granted, role issued, ...).

    The payload is stored as given: callers keep raw values out of it, as statements do.
    """
    if not kind or kind == "statement":
        raise ValueError(f"event kind {kind!r}: give a name other than 'statement'")
    return {
        "v": RECORD_VERSION,
        "kind": kind,
        "time": time or now(),
        "identity": identity.to_dict() if identity is not None else None,
        "payload": dict(payload),
    }


def _error(error: Any, phase: str, decision: Decision) -> str | None:
    if phase == "refused":
        # the governor's refusal text quotes the raw statement; the findings already say why
        rules = ", ".join(sorted({f.rule for f in decision.findings if f.action == decision.action})) or decision.action.value
        return f"refused ({decision.action.value}): {rules}"
    if not error:
        return None
    dialect = decision.facts.dialect
    literals = literal_values(decision.original_sql, dialect) | literal_values(decision.sql, dialect)
    return scrub_values(scrub_literals(str(error), literals), statement_names(decision))


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None
