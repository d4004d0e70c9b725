"""Just-in-time PostgreSQL credentials that expire with the run.

The analysis already knows which tables a run reads and writes, so a run does not need a
standing, all-powerful database user: a login role named after the run is created, granted
exactly that (USAGE on schemas, SELECT on what it reads, INSERT/UPDATE/DELETE/TRUNCATE on what
it writes and the policy allows, CREATE on schemas where it creates relations), valid until
the policy's TTL, and dropped when the run ends, success or failure.

    plan_grants(engine.check("insert into mart.t select * from raw.s", identity))
    -> USAGE on schema mart, raw; SELECT on raw.s; INSERT on mart.t

The admin connection that creates roles is configured separately (an environment variable
named in the policy) and never runs pipeline SQL. The role's password is random, sent to the
server only as a SCRAM verifier (so ``log_statement=all`` does not log it), and never
recorded. Every step (created, granted, revoked, swept) is a ledger record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import urlparse

from lineage.identity import RunIdentity
from lineage.model import Decision

log = logging.getLogger(__name__)

REGISTRY_SCHEMA = "lineage_jit"
ACL_LOCK = "lineage_jit:acl"

# statement kind -> privileges on the written table
WRITE_PRIVILEGES = {
    "insert": ("INSERT",),
    "copy_in": ("INSERT",),
    "update": ("UPDATE", "SELECT"),
    "delete": ("DELETE", "SELECT"),
    "merge": ("INSERT", "UPDATE", "DELETE", "SELECT"),
    "truncate": ("TRUNCATE",),
    "select_into": (),
}
CREATING_KINDS = ("create_table", "create_table_as", "create_view", "select_into", "create_index")
OWNER_ONLY_KINDS = ("drop_table", "drop_view", "alter_table", "alter_view", "create_index")


class JitError(Exception):
    pass


@dataclass(frozen=True, order=True)
class Grant:
    object_kind: str  # schema | table
    object: str  # schema or schema.table (the run's database)
    privilege: str

    def describe(self) -> str:
        return f"{self.privilege} on {self.object_kind} {self.object}"


@dataclass
class GrantPlan:
    database: str | None
    grants: list[Grant] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        return [grant.describe() for grant in sorted(self.grants)]


def _split(name: str) -> tuple[str | None, str | None, str]:
    parts = name.split(".")
    parts = [None] * (3 - len(parts)) + parts
    return parts[0], parts[1], parts[2]


def plan_grants(decisions: Iterable[Decision], database: str | None = None) -> GrantPlan:
    """The least privileges that let these statements run (refused statements get none)."""
    plan = GrantPlan(database)
    grants: set[Grant] = set()

    def table(name: str) -> str | None:
        db, schema, relation = _split(name)
        if database and db and db != database:
            plan.notes.append(f"{name}: in database {db}, not {database}; no grant")
            return None
        schema = schema or "public"
        grants.add(Grant("schema", schema, "USAGE"))
        return f"{schema}.{relation}"

    for decision in decisions:
        facts = decision.facts
        if not decision.may_run:
            plan.notes.append(f"statement {decision.index} ({facts.kind}) is {decision.action.value}: no grant")
            continue
        for name in facts.reads:
            qualified = table(name)
            if qualified and qualified not in plan.created:
                grants.add(Grant("table", qualified, "SELECT"))
        if facts.kind in CREATING_KINDS:
            for name in facts.writes:
                qualified = table(name)
                if qualified:
                    grants.add(Grant("schema", qualified.split(".")[0], "CREATE"))
                    plan.created.append(qualified)
            continue
        if facts.kind in OWNER_ONLY_KINDS:
            plan.notes.append(f"statement {decision.index} ({facts.kind}) needs ownership of {', '.join(facts.writes)}: not granted")
            continue
        for name in facts.writes:
            qualified = table(name)
            if qualified and qualified not in plan.created:
                for privilege in WRITE_PRIVILEGES.get(facts.kind, ()):
                    grants.add(Grant("table", qualified, privilege))
    plan.grants = sorted(grants)
    return plan


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores; sending it instead of the password keeps
    the password out of the server's statement log."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    encode = lambda raw: base64.b64encode(raw).decode()
    return f"SCRAM-SHA-256${iterations}:{encode(salt)}${encode(stored_key)}:{encode(server_key)}"


@dataclass(frozen=True)
class JitRole:
    name: str
    password: str = field(repr=False)
    dsn: str = field(repr=False)
    expires_at: datetime
    plan: GrantPlan


def role_name(prefix: str, run_id: str) -> str:
    """Short, unique, within PostgreSQL's 63 bytes; the run is traceable through the ledger."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{prefix}{digest}_{secrets.token_hex(4)}"


def _with_credentials(dsn: str, user: str, password: str) -> str:
    parsed = urlparse(dsn)
    host = parsed.hostname or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    query = f"?{parsed.query}" if parsed.query else ""
    from urllib.parse import quote

    return f"{parsed.scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}{parsed.path}{query}"


class JitManager:
    """Creates, revokes and sweeps per-run roles through the admin connection."""

    def __init__(self, admin_dsn: str, policy, ledger=None, clock=lambda: datetime.now(timezone.utc)):
        if not admin_dsn.startswith(("postgres://", "postgresql://")):
            raise JitError("the JIT admin DSN must be a postgresql:// URL")
        self.admin_dsn = admin_dsn
        self.settings = policy.policy.jit
        self.policy = policy
        self.ledger = ledger
        self.clock = clock

    @classmethod
    def from_policy(cls, policy, ledger=None, env=None) -> "JitManager":
        env = os.environ if env is None else env
        name = policy.policy.jit.admin_dsn_env
        dsn = env.get(name)
        if not dsn:
            raise JitError(f"JIT credentials are enabled but ${name} (the admin DSN) is not set")
        return cls(dsn, policy, ledger)

    def _connect(self):
        import psycopg

        try:
            return psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as error:
            # the admin DSN holds a password: never echo it
            raise JitError(f"cannot connect with the JIT admin DSN (${self.settings.admin_dsn_env}): {type(error).__name__}") from None

    def _ensure_registry(self, connection) -> None:
        from psycopg import sql

        with connection.transaction():
            # "if not exists" still races between two first-time creators
            connection.execute("select pg_advisory_xact_lock(hashtext(%s))", [ACL_LOCK])
            self._create_registry(connection, sql)

    def _create_registry(self, connection, sql) -> None:
        connection.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(REGISTRY_SCHEMA)))
        connection.execute(
            sql.SQL(
                """create table if not exists {}.roles (
                    role_name text primary key, run_id text not null, job text not null, principal text not null,
                    created_at timestamptz not null, expires_at timestamptz not null,
                    status text not null, ended_at timestamptz)"""
            ).format(sql.Identifier(REGISTRY_SCHEMA))
        )

    def create(self, identity: RunIdentity, decisions: Iterable[Decision]) -> JitRole:
        from psycopg import sql

        decisions = list(decisions)
        now = self.clock()
        expires = now + self.settings.ttl
        password = secrets.token_urlsafe(24)
        with self._connect() as connection:
            self._ensure_registry(connection)
            database = connection.info.dbname
            owner = self.settings.owner_role or connection.info.user
            plan = plan_grants(decisions, database)
            name = role_name(self.settings.role_prefix, identity.run_id)
            applied: list[str] = []
            with connection.transaction():
                # concurrent GRANTs on one table fail with "tuple concurrently updated": serialise ACL changes
                connection.execute("select pg_advisory_xact_lock(hashtext(%s))", [ACL_LOCK])
                connection.execute(
                    sql.SQL("insert into {}.roles values (%s, %s, %s, %s, %s, %s, 'active', null)").format(sql.Identifier(REGISTRY_SCHEMA)),
                    [name, identity.run_id, f"{identity.job_namespace}/{identity.job_name}", identity.principal, now, expires],
                )
                connection.execute(
                    sql.SQL("create role {} login password {} valid until {}").format(
                        sql.Identifier(name), sql.Literal(scram_verifier(password)), sql.Literal(expires.isoformat())
                    )
                )
                connection.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), sql.Identifier(name)))
                # objects the run creates end up owned by `owner` when the role is dropped
                connection.execute(sql.SQL("grant {} to {}").format(sql.Identifier(name), sql.Identifier(owner)))
                for grant in plan.grants:
                    if grant.object_kind == "schema":
                        exists = connection.execute("select 1 from pg_namespace where nspname = %s", [grant.object]).fetchone()
                        if not exists:
                            plan.notes.append(f"schema {grant.object} does not exist: no grant")
                            continue
                        connection.execute(sql.SQL("grant {} on schema {} to {}").format(sql.SQL(grant.privilege), sql.Identifier(grant.object), sql.Identifier(name)))
                    else:
                        schema, relation = grant.object.split(".", 1)
                        relation_id = connection.execute("select to_regclass(%s)", [sql.Identifier(schema, relation).as_string(connection)]).fetchone()[0]
                        if relation_id is None:
                            plan.notes.append(f"table {grant.object} does not exist: no grant")
                            continue
                        connection.execute(sql.SQL("grant {} on table {} to {}").format(sql.SQL(grant.privilege), sql.Identifier(schema, relation), sql.Identifier(name)))
                        if grant.privilege == "INSERT":
                            for seq_schema, sequence in connection.execute(_OWNED_SEQUENCES, [sql.Identifier(schema, relation).as_string(connection)]).fetchall():
                                connection.execute(sql.SQL("grant usage, select on sequence {} to {}").format(sql.Identifier(seq_schema, sequence), sql.Identifier(name)))
                    applied.append(grant.describe())
        role = JitRole(name, password, _with_credentials(self.admin_dsn, name, password), expires, plan)
        self._record("jit_role_created", identity, {"role": name, "expires_at": expires.isoformat(), "grants": applied, "notes": plan.notes, "database": plan.database})
        return role

    def revoke(self, role: JitRole | str, identity: RunIdentity, outcome: str = "ended") -> dict[str, Any]:
        name = role.name if isinstance(role, JitRole) else role
        with self._connect() as connection:
            self._ensure_registry(connection)
            result = self._drop(connection, name, "revoked")
        self._record("jit_role_revoked", identity, {"role": name, "run_outcome": outcome, **result})
        return result

    def sweep(self, identity: RunIdentity | None = None) -> list[str]:
        """Drop roles whose run ended or whose TTL passed (workers that died). Safe to run concurrently."""
        from psycopg import sql

        now = self.clock()
        swept = []
        with self._connect() as connection:
            self._ensure_registry(connection)
            candidates = connection.execute(
                sql.SQL("select role_name from {}.roles where status <> 'dropped' and (status = 'ended' or expires_at <= %s)").format(sql.Identifier(REGISTRY_SCHEMA)),
                [now],
            ).fetchall()
            orphans = connection.execute(
                "select rolname from pg_roles where rolname like %s and rolvaliduntil <= %s",
                [self.settings.role_prefix.replace("_", "\\_") + "%", now],
            ).fetchall()
            for (name,) in {*candidates, *orphans}:
                result = self._drop(connection, name, "swept")
                if result.get("dropped"):
                    swept.append(name)
                    self._record("jit_role_swept", identity or RunIdentity(principal="svc:lineage-jit-sweep", source="cli"), {"role": name, **result})
        return swept

    def _drop(self, connection, name: str, reason: str) -> dict[str, Any]:
        from psycopg import sql

        owner = self.settings.owner_role or connection.info.user
        with connection.transaction():
            locked = connection.execute("select pg_try_advisory_xact_lock(hashtext(%s))", [f"lineage_jit:{name}"]).fetchone()[0]
            if not locked:
                return {"dropped": False, "reason": "another sweeper holds it"}
            connection.execute("select pg_advisory_xact_lock(hashtext(%s))", [ACL_LOCK])
            exists = connection.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone()
            terminated = 0
            if exists:
                # VALID UNTIL only stops new logins: end the sessions still open
                terminated = connection.execute(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity where usename = %s and pid <> pg_backend_pid()", [name]
                ).fetchone()[0]
                connection.execute(sql.SQL("reassign owned by {} to {}").format(sql.Identifier(name), sql.Identifier(owner)))
                connection.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
                connection.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
            connection.execute(
                sql.SQL("update {}.roles set status = 'dropped', ended_at = now() where role_name = %s").format(sql.Identifier(REGISTRY_SCHEMA)), [name]
            )
        return {"dropped": bool(exists), "sessions_terminated": terminated, "reason": reason}

    def _record(self, kind: str, identity: RunIdentity, payload: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.record_event(kind, identity, payload)


_OWNED_SEQUENCES = """
    select ns.nspname, seq.relname
    from pg_depend dep
    join pg_class seq on seq.oid = dep.objid and seq.relkind = 'S'
    join pg_namespace ns on ns.oid = seq.relnamespace
    where dep.refobjid = to_regclass(%s) and dep.deptype in ('a', 'i')
"""
