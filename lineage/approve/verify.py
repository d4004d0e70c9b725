"""The worker's check of an approval: signed by a key the policy trusts, for this very statement and run.

Whoever can write the approvals store (the pipeline itself, anyone with the database's password)
can write ``status = 'approved'``; that proves nothing. An approval counts only when its signed
payload verifies against a key in the policy and says, in the signer's words, that this approver
approved this statement for this requester, environment, job (and run, with ``scope: run``), and
is still valid:

    payload = signed_payload(request, signer, decided_at, valid_until, note)  # what the approver signs
    check(policy, request_id, signed, binding, identity, now) -> VerifiedApproval or raises Rejected

Two kinds of keys sign: an approver's own key (``approvals.keys``: the approver is the key's
principal, groups from the policy's ``identity.groups``) and a server's key (``approvals.server_keys``:
the Airflow UI signs for its logged-in user, and the workers trust what it says about the user's
name and roles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lineage.approve.binding import StatementBinding
from lineage.approve.keys import key_id, parse_public, sign, verify
from lineage.identity.canonical import same_principal, unplain_reason
from lineage.identity.run_identity import RunIdentity

PAYLOAD_VERSION = 1
CLOCK_SKEW = timedelta(seconds=5)


class Rejected(Exception):
    """Why an approval does not count (the statement stays held)."""


@dataclass(frozen=True)
class Signer:
    """Who signs: an approver with their own key, or a server (the Airflow UI) for a logged-in user."""

    private_key: Any
    kind: str  # "approver" | "server"
    name: str  # the approver's principal, or the server's name in the policy
    approver: str
    groups: tuple[str, ...] = ()

    @property
    def key_id(self) -> str:
        return key_id(self.private_key)


@dataclass(frozen=True)
class TrustedKey:
    kind: str
    name: str
    public_key: Any


@dataclass(frozen=True)
class VerifiedApproval:
    id: str
    approver: str
    key_id: str
    signer: str
    signature: str
    payload: dict[str, Any] = field(compare=False)

    def evidence(self) -> dict[str, Any]:
        """What the ledger keeps, enough to check the signature again later."""
        return {"approver": self.approver, "key_id": self.key_id, "signer": self.signer, "signature": self.signature, "signed": self.payload}


def trusted_keys(approvals) -> dict[str, TrustedKey]:
    """The policy's ``approvals.keys`` and ``approvals.server_keys`` by key id."""
    keys: dict[str, TrustedKey] = {}
    for entry in approvals.keys:
        public = parse_public(entry.public_key)
        keys[key_id(public)] = TrustedKey("approver", entry.principal, public)
    for entry in approvals.server_keys:
        public = parse_public(entry.public_key)
        keys[key_id(public)] = TrustedKey("server", entry.name, public)
    return keys


def signer_for(approvals, private_key, user: str | None = None, groups: tuple[str, ...] = ()) -> Signer:
    """The signer a private key makes: an approver key names its approver; a server key signs for ``user``."""
    kid = key_id(private_key)
    trusted = trusted_keys(approvals).get(kid)
    if trusted is None:
        raise Rejected(f"key {kid} is not in the policy: add its public key to approvals.keys (an approver) or approvals.server_keys (the UI)")
    if trusted.kind == "approver":
        if user is not None and not same_principal(user, trusted.name):
            raise Rejected(f"key {kid} belongs to {trusted.name} in the policy, not to {user}")
        return Signer(private_key, "approver", trusted.name, trusted.name)
    if not user:
        raise Rejected(f"key {kid} is the server key {trusted.name!r}: it signs only for a logged-in user")
    return Signer(private_key, "server", trusted.name, user, tuple(groups))


def signed_payload(request, verdict: str, signer: Signer, decided_at: str, valid_until: str | None, note: str | None) -> dict[str, Any]:
    hidden = {"salt": request.hidden_salt, "digest": request.hidden_digest} if request.hidden_digest else None
    return {
        "v": PAYLOAD_VERSION,
        "kind": "lineage-governance approval",
        "request": request.id,
        "verdict": verdict,
        "approver": signer.approver,
        "approver_groups": list(signer.groups),
        "signer": {"kind": signer.kind, "name": signer.name, "key_id": signer.key_id},
        "statement": request.statement,
        "dialect": request.dialect,
        "hidden": hidden,
        "environment": request.environment,
        "requester": request.requester,
        "job_namespace": request.job_namespace,
        "job_name": request.job_name,
        "run_id": request.run_id,
        "decided_at": decided_at,
        "valid_until": valid_until,
        "note": note,
    }


def signed_record(signer: Signer, payload: dict[str, Any]) -> dict[str, Any]:
    return {"payload": payload, "key_id": signer.key_id, "signature": sign(signer.private_key, payload)}


def may_approve(policy, approver: str, groups: tuple[str, ...], requester: str) -> None:
    """The policy's rules on people, the same for the approver's tool and for the worker."""
    from lineage.identity.principal import groups_of

    reason = unplain_reason(approver)
    if reason:
        raise Rejected(f"approver name {approver!r} {reason}; such a name cannot decide")
    if same_principal(approver, requester):
        raise Rejected(f"{approver} requested it and cannot decide on it (nobody approves their own request)")
    approvers = policy.approvals.approvers
    memberships = tuple(groups) + groups_of(policy.identity, approver)
    if not any(match.matches(approver, memberships) for match in approvers):
        named = ", ".join(m.principal or f"group {m.group}" for m in approvers) or "nobody (the policy names no approvers)"
        raise Rejected(f"{approver} is not an approver; the policy names: {named}")


def check(policy, request_id: str, signed: dict[str, Any] | None, binding: StatementBinding, identity: RunIdentity, now: datetime) -> VerifiedApproval:
    """A verified approval of ``request_id`` for this statement and run, or Rejected with the reason."""
    approvals = policy.approvals
    if not isinstance(signed, dict) or not isinstance(signed.get("payload"), dict):
        raise Rejected("is not signed; approve it with `lineage approvals approve ID --key FILE` or in the Airflow UI")
    payload, kid = signed["payload"], str(signed.get("key_id"))
    trusted = trusted_keys(approvals).get(kid)
    if trusted is None:
        raise Rejected(f"is signed by key {kid}, which the policy does not trust (approvals.keys, approvals.server_keys)")
    if not verify(trusted.public_key, payload, str(signed.get("signature"))):
        raise Rejected(f"has a signature that does not match its content (key {kid})")
    if payload.get("v") != PAYLOAD_VERSION or payload.get("request") != request_id:
        raise Rejected("carries a signature made for another request")
    if payload.get("verdict") != "approved":
        raise Rejected(f"was {payload.get('verdict')}, not approved")
    approver = str(payload.get("approver"))
    groups: tuple[str, ...] = ()
    if trusted.kind == "approver":
        if not same_principal(approver, trusted.name):
            raise Rejected(f"names approver {approver}, but key {kid} belongs to {trusted.name}")
    else:
        groups = tuple(str(group) for group in payload.get("approver_groups") or ())
    may_approve(policy, approver, groups, str(payload.get("requester")))
    _check_binding(approvals, payload, binding, identity)
    _check_time(approvals, payload, now)
    signer = f"{trusted.kind} key {trusted.name}"
    return VerifiedApproval(request_id, approver, kid, signer, str(signed["signature"]), payload)


def _check_binding(approvals, payload: dict[str, Any], binding: StatementBinding, identity: RunIdentity) -> None:
    if not same_principal(payload.get("requester"), identity.principal):
        raise Rejected(f"was asked by {payload.get('requester')}; this run's principal is {identity.principal}")
    if payload.get("environment") != identity.environment:
        raise Rejected(f"is for environment {payload.get('environment')}, not {identity.environment}")
    if (payload.get("job_namespace"), payload.get("job_name")) != (identity.job_namespace, identity.job_name):
        raise Rejected(f"is for job {payload.get('job_namespace')}/{payload.get('job_name')}, not {identity.job_namespace}/{identity.job_name}")
    if approvals.scope == "run" and payload.get("run_id") != identity.run_id:
        raise Rejected(f"is for run {payload.get('run_id')}, not {identity.run_id} (approvals.scope is run)")
    if payload.get("dialect") != binding.dialect or payload.get("statement") != binding.text:
        raise Rejected(f"approves another statement: {str(payload.get('statement'))[:300]}")
    hidden = payload.get("hidden") or {}
    if bool(hidden) != bool(binding.hidden) or (binding.hidden and binding.digest(hidden.get("salt")) != hidden.get("digest")):
        raise Rejected("approves other values where the statement compares or writes classified columns")


def _check_time(approvals, payload: dict[str, Any], now: datetime) -> None:
    try:
        decided = datetime.fromisoformat(str(payload.get("decided_at")))
        until = datetime.fromisoformat(str(payload.get("valid_until")))
    except ValueError:
        raise Rejected("has no readable decision time or validity") from None
    if until <= now:
        raise Rejected(f"expired at {payload.get('valid_until')}")
    if decided > now + CLOCK_SKEW or until - decided > approvals.ttl + CLOCK_SKEW:
        raise Rejected(f"claims a validity ({payload.get('decided_at')} to {payload.get('valid_until')}) the policy's ttl does not allow")
