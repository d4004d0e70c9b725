"""Approver and server keys in a folder, and a copy of a policy that trusts them (the demo, tests).

    keys = ApproverKeys(tmp_path / "keys")
    keys.path("olga@corp")                       -> tmp_path/keys/olga@corp.key (made on first use)
    keys.policy(source, tmp_path / "policy.yaml", approvers=["olga@corp"], servers=["airflow-ui"])
    -> the source policy with approvals.keys and approvals.server_keys for those keys

Private keys never live in the repository: every test session and every demo makes its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import yaml

from lineage.approve.keys import generate, load_private, public_text, write_private_key


class ApproverKeys:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        path = self.folder / (re.sub(r"[^A-Za-z0-9@._-]", "_", name) + f"-{name.encode().hex()[:16]}.key")
        if not path.exists():
            write_private_key(generate(), path)
        return path

    def key(self, name: str):
        return load_private(self.path(name))

    def public(self, name: str) -> str:
        return public_text(self.key(name), name)

    def policy_text(self, source: str, approvers: Iterable[str] = (), servers: Iterable[str] = ()) -> str:
        data = yaml.safe_load(source) or {}
        section = data.setdefault("approvals", {}) or {}
        data["approvals"] = section
        section.setdefault("keys", []).extend({"principal": name, "public_key": self.public(name)} for name in approvers)
        section.setdefault("server_keys", []).extend({"name": name, "public_key": self.public(name)} for name in servers)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def policy(self, source: Path, destination: Path, approvers: Iterable[str] = (), servers: Iterable[str] = ()) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(self.policy_text(Path(source).read_text(), approvers, servers), encoding="utf-8")
        return destination
