"""Ed25519 keys that sign approvals, through the ``cryptography`` package.

Public keys are written the OpenSSH way (``ssh-ed25519 AAAAC3Nz... comment``), so an approver
may use an existing ``ssh-keygen -t ed25519`` key; private key files are OpenSSH or PEM (PKCS#8).
A key is named by its fingerprint, as ``ssh-keygen -l`` prints it:

    public_text(private_key)   -> "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... olga@corp"
    key_id(public_key)         -> "SHA256:q3m0...X4"
    sign(private_key, {"request": "apr-1"})   -> "base64 signature"
    verify(public_key, {"request": "apr-1"}, signature) -> True

What is signed is the payload's canonical JSON (sorted keys, no spaces, UTF-8), so the signer
and the verifier need not share anything but the payload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PASSPHRASE_ENV = "LINEAGE_APPROVER_KEY_PASSPHRASE"


class ApprovalKeyError(ValueError):
    """A key that cannot be used; the message names the file or the policy entry."""


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())


def write_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write an unencrypted OpenSSH private key readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_bytes(key))


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey, comment: str = "") -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{text} {comment}".strip()


def parse_public(text: str) -> Ed25519PublicKey:
    """An ``ssh-ed25519 AAAA...`` line (a comment after it is allowed)."""
    parts = (text or "").split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise ApprovalKeyError(f"{(text or '')[:40]!r} is not an Ed25519 public key: give the 'ssh-ed25519 AAAA...' line `lineage approvals keygen` prints")
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError) as error:
        raise ApprovalKeyError(f"{parts[1][:20]}...: not a readable ssh-ed25519 key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):  # pragma: no cover - the prefix is checked above
        raise ApprovalKeyError("only Ed25519 keys sign approvals")
    return key


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def load_private(path: str | Path, env: dict[str, str] | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key file (OpenSSH or PEM); an encrypted one takes ``$LINEAGE_APPROVER_KEY_PASSPHRASE``."""
    env = os.environ if env is None else env
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ApprovalKeyError(f"{path}: cannot read the key: {error.strerror or error}") from None
    passphrase = env.get(PASSPHRASE_ENV)
    password = passphrase.encode() if passphrase else None
    key = None
    errors = []
    for loader in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
        try:
            key = loader(data, password)
            break
        except TypeError as error:  # encrypted without a passphrase, or a passphrase for a plain key
            errors.append(str(error))
        except Exception as error:  # noqa: BLE001 - every loader failure is "not this form"
            errors.append(str(error))
    if key is None:
        hint = f" (set {PASSPHRASE_ENV} for an encrypted key)" if any("encrypted" in e.lower() or "password" in e.lower() for e in errors) else ""
        raise ApprovalKeyError(f"{path}: not an Ed25519 private key in OpenSSH or PEM form{hint}")
    if not isinstance(key, Ed25519PrivateKey):
        raise ApprovalKeyError(f"{path}: a {type(key).__name__.replace('_', '')}, but approvals are signed with Ed25519 keys (`lineage approvals keygen`)")
    return key


def sign(key: Ed25519PrivateKey, payload: Any) -> str:
    return base64.b64encode(key.sign(canonical_json(payload))).decode()


def verify(key: Ed25519PublicKey, payload: Any, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, canonical_json(payload))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
