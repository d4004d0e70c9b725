"""RunIdentity: who is accountable for a statement, and through what.

The same ``run_id`` goes into the SQL comment the database sees, the ledger record and
the OpenLineage event; that join is what lets an auditor line the three up.

``principal`` is who answers for the statement (``alice@corp``, ``svc:etl``); ``actor`` is
who or what actually issued it when that is someone else, such as an AI agent acting
through a pipeline on alice's behalf (``agent:report-bot``). Policy decisions follow the
principal; the comment, the ledger and the events carry both.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

SOURCES = ("airflow", "dbt", "dbapi", "cli")


def new_run_id() -> str:
    """A UUIDv7 (time-ordered), as OpenLineage recommends for run ids: RFC 9562's layout of 48 bits
    of Unix milliseconds, the version 7, the variant and random bits. Built here rather than with
    openlineage-python's helper, whose package import costs a command ~0.4 s of HTTP clients, and
    spelled as ``str(uuid.UUID(int=...))`` spells it without importing ``uuid`` (nor ``secrets``), which
    ``lineage check`` would load for this alone.

    >>> new_run_id()[14], new_run_id()[19] in "89ab", len(new_run_id())
    ('7', True, 36)
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76
    value = value & ~(0x3 << 62) | 0x2 << 62
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


@dataclass(frozen=True)
class RunIdentity:
    principal: str
    groups: tuple[str, ...] = ()
    environment: str = "dev"
    source: str = "cli"
    actor: str | None = None
    job_namespace: str = "lineage-governance"
    job_name: str = "adhoc"
    run_id: str = field(default_factory=new_run_id)
    parent_run_id: str | None = None
    parent_job_namespace: str | None = None
    parent_job_name: str | None = None
    root_run_id: str | None = None
    root_job_namespace: str | None = None
    root_job_name: str | None = None
    database_user: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def policy_key(self) -> tuple:
        """The attributes a policy decision may depend on (used in cache keys)."""
        return (self.principal, self.groups, self.environment)

    def with_(self, **changes: Any) -> "RunIdentity":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "principal": self.principal,
            "groups": list(self.groups),
            "environment": self.environment,
            "source": self.source,
            "job_namespace": self.job_namespace,
            "job_name": self.job_name,
            "run_id": self.run_id,
        }
        for key in (
            "actor",
            "parent_run_id",
            "parent_job_namespace",
            "parent_job_name",
            "root_run_id",
            "root_job_namespace",
            "root_job_name",
            "database_user",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunIdentity":
        values = dict(data)
        values["groups"] = tuple(values.get("groups") or ())
        values["attributes"] = dict(values.get("attributes") or {})
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in values.items() if key in known})


def split_groups(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))


def parse_parent(value: str | None) -> tuple[str | None, str | None, str | None]:
    """``OPENLINEAGE_PARENT_ID`` is ``{namespace}/{job name}/{run id}``.

    The job name may itself contain slashes; the run id is the last part.
    """
    if not value:
        return None, None, None
    namespace, _, rest = value.partition("/")
    job, _, run_id = rest.rpartition("/")
    if not namespace or not job or not _is_uuid(run_id):
        raise ValueError(
            f"OpenLineage parent {value!r} is not '{{namespace}}/{{job name}}/{{run id (a UUID)}}'"
        )
    return namespace, job, run_id


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _canonical_uuid(value: str) -> str:
    import uuid

    return str(uuid.UUID(value))


def from_environment(
    principal: str | None = None,
    groups: tuple[str, ...] | list[str] | None = None,
    environment: str | None = None,
    source: str = "cli",
    job_namespace: str | None = None,
    job_name: str | None = None,
    actor: str | None = None,
    env: Mapping[str, str] | None = None,
    run_id: str | None = None,
    database_user: str | None = None,
    **attributes: Any,
) -> RunIdentity:
    """Resolve an identity from explicit values, then ``LINEAGE_*`` and OpenLineage variables.

    ``LINEAGE_PRINCIPAL``, ``LINEAGE_GROUPS`` (comma-separated), ``LINEAGE_ENV``,
    ``LINEAGE_ACTOR``, ``LINEAGE_JOB_NAMESPACE``, ``LINEAGE_JOB_NAME``, ``LINEAGE_RUN_ID`` (to
    keep one run across several processes, such as the steps of a shell script),
    ``OPENLINEAGE_PARENT_ID`` and ``OPENLINEAGE_ROOT_PARENT_ID``.

    Without any principal the operating-system user is accountable (``os:<user>``), so a
    statement is never recorded without someone behind it.
    """
    env = os.environ if env is None else env
    if principal is None:
        principal = env.get("LINEAGE_PRINCIPAL") or f"os:{_os_user(env)}"
    resolved_groups = tuple(sorted(set(groups))) if groups else split_groups(env.get("LINEAGE_GROUPS"))
    parent_ns, parent_job, parent_run = parse_parent(env.get("OPENLINEAGE_PARENT_ID"))
    root_ns, root_job, root_run = parse_parent(env.get("OPENLINEAGE_ROOT_PARENT_ID"))
    if parent_run and not root_run:
        root_ns, root_job, root_run = parent_ns, parent_job, parent_run
    run_id = run_id or env.get("LINEAGE_RUN_ID") or None
    if run_id is not None and not _is_uuid(run_id):
        raise ValueError(f"run id {run_id!r} (LINEAGE_RUN_ID or --run-id) is not a UUID")
    extra = {"run_id": _canonical_uuid(run_id)} if run_id else {}
    return RunIdentity(
        **extra,
        principal=principal,
        groups=resolved_groups,
        environment=environment or env.get("LINEAGE_ENV") or "dev",
        source=source,
        actor=actor or env.get("LINEAGE_ACTOR") or None,
        job_namespace=job_namespace or env.get("LINEAGE_JOB_NAMESPACE") or parent_ns or "lineage-governance",
        job_name=job_name or env.get("LINEAGE_JOB_NAME") or "adhoc",
        parent_run_id=parent_run,
        parent_job_namespace=parent_ns,
        parent_job_name=parent_job,
        root_run_id=root_run,
        root_job_namespace=root_ns,
        root_job_name=root_job,
        database_user=database_user,
        attributes={key: value for key, value in attributes.items() if value is not None},
    )


def _os_user(env: Mapping[str, str]) -> str:
    user = env.get("USER") or env.get("LOGNAME")
    if user:
        return user
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return f"uid{os.getuid()}"
