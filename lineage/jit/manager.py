"""Just-in-time PostgreSQL credentials that expire with the run.

The analysis already knows which tables a run reads and writes, so a run does not need a
standing, all-powerful database user: a login role named after the run is created, granted
exactly that (USAGE on schemas, SELECT on what it reads, INSERT/UPDATE/DELETE/TRUNCATE on what
it writes and the policy allows, CREATE on schemas where it creates relations), valid until
the policy's TTL, and dropped when the run ends, success or failure.

    plan_grants(engine.check("insert into mart.t select * from raw.s", identity))
    -> USAGE on schema mart, raw; SELECT on raw.s; INSERT on mart.t

Who is trusted: the admin connection (an environment variable named in the policy) creates
roles and never runs pipeline SQL; the run's role is not trusted at all, whatever it runs in
its own sessions. So what the role makes is handed to a dedicated NOLOGIN owner role
(``jit.owner_role``, required), and only data (``lineage.jit.handover``: never functions or
rules, which would act with the owner's rights); a role is only ever dropped when the marker
role's membership, granted by an admin, proves it is a JIT role (registry rows prove nothing);
statements that would reach beyond their grants are refused before any role exists: views over
the system catalogs, the registry, role changes, SECURITY DEFINER calls. The role's password is
random, sent to the server only as a SCRAM verifier (so ``log_statement=all`` does not log it),
and never recorded; its connection string carries nothing of the admin's (``lineage.jit.dsn``).
Every step (created, granted, refused, revoked, swept) is a ledger record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from lineage.identity.run_identity import RunIdentity
from lineage.jit.audit import MARKER_ROLE, REGISTRY_TRUST, marker_problems, owner_problems
from lineage.jit.dsn import DsnError, parse_admin_dsn, role_conninfo
from lineage.jit.handover import hand_over
from lineage.jit.names import CATALOG_SCHEMAS, DEFAULT_PATH, TEMP_SCHEMA, Resolver, SearchPath, StatementNames, parse_path, statement_names
from lineage.jit.names import Catalog as NameCatalog
from lineage.model import Decision
from lineage.decide.rules.catalog_view import catalog_relations
from lineage.decide.rules.jit_registry import REGISTRY_SCHEMA
from lineage.decide.analysis.kinds import CREATING_RELATIONS, VIEWS

log = logging.getLogger(__name__)

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
OWNER_ONLY_KINDS = ("drop_table", "drop_view", "alter_table", "alter_view", "create_index")
ROLE_KINDS = ("create_role", "alter_role", "drop_role", "set_role")


class JitError(Exception):
    pass


class JitRefused(JitError):
    """The statements cannot run under a JIT role at all (not a configuration problem)."""


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
    refusals: list[str] = field(default_factory=list)  # non-empty: no role is created for these statements
    functions: set[str] = field(default_factory=set)  # functions the runnable statements call
    search_path: tuple[str, ...] = DEFAULT_PATH  # the role's session starts with it

    def describe(self) -> list[str]:
        return [grant.describe() for grant in sorted(self.grants)]


def _split(name: str) -> tuple[str | None, str | None, str]:
    parts = name.split(".")
    parts = [None] * (3 - len(parts)) + parts
    return parts[0], parts[1], parts[2]


def plan_grants(
    decisions: Iterable[Decision],
    database: str | None = None,
    search_path: tuple[str, ...] = DEFAULT_PATH,
    catalog: NameCatalog | None = None,
    role: str | None = None,
) -> GrantPlan:
    """The least privileges that let these statements run (refused statements get none).

    Unqualified names are resolved as the server would for the role's session (``search_path``,
    followed through the statements' own SETs; ``catalog`` is the live database, without it the
    first schema on the path is assumed). What a JIT role must never do is refused outright:
    views over the system catalogs, the JIT registry, changing a role (its own password)."""
    plan = GrantPlan(database, search_path=search_path)
    grants: set[Grant] = set()
    path = SearchPath(session=search_path, default=search_path)
    resolver = Resolver(catalog, role)

    def resolve(name: str, names: StatementNames, creating: bool = False) -> list[tuple[str, str]]:
        """The (schema, relation) pairs a name of the analysis stands for on the server."""
        db, schema, relation = _split(name)
        if database and db and db != database:
            plan.notes.append(f"{name}: in database {db}, not {database}; no grant")
            return []
        found = []
        bare = names.parsed and relation in names.bare
        if schema is not None and (not bare or (schema, relation) in names.qualified):
            found.append((schema, relation))
        if bare:  # the analysis' schema for it is a guess: resolve it as the server will
            if creating and relation in names.temporary:
                resolved = TEMP_SCHEMA
            elif creating:
                resolved = resolver.creation_schema(path.current)
            else:
                resolved = resolver.relation(relation, path.current)
            if resolved is None:
                why = "the statements change search_path in a way the plan cannot follow" if path.current is None else "not found on the search_path"
                plan.notes.append(f"{relation} (unqualified): {why}; no grant (qualify it)")
            elif (resolved, relation) not in found:
                found.append((resolved, relation))
        return found

    def table(schema: str, relation: str) -> str | None:
        if schema in CATALOG_SCHEMAS or schema == TEMP_SCHEMA or schema.startswith("pg_temp"):
            return None  # system catalogs (PUBLIC reads what it may) and the session's own temporary tables
        grants.add(Grant("schema", schema, "USAGE"))
        return f"{schema}.{relation}"

    for decision in decisions:
        facts = decision.facts
        if not decision.may_run:
            plan.notes.append(f"statement {decision.index} ({facts.kind}) is {decision.action.value}: no grant")
            continue
        names = statement_names(decision.sql, facts.dialect)
        plan.functions |= names.functions
        label = f"statement {decision.index} ({facts.kind})"
        reads = [pair for name in (*facts.reads, *facts.system_reads) for pair in resolve(name, names)]
        creating = facts.kind in CREATING_RELATIONS
        writes = [pair for name in facts.writes for pair in resolve(name, names, creating=creating)]
        touched = reads + writes
        if facts.kind in ROLE_KINDS:
            plan.refusals.append(f"{label} changes a role: a JIT role never does (it could change its own password)")
        if any(schema == REGISTRY_SCHEMA for schema, _ in touched):
            plan.refusals.append(f"{label} reads or writes the JIT registry ({REGISTRY_SCHEMA}): never granted")
        if facts.kind in VIEWS and (catalog_relations(facts) or any(schema in CATALOG_SCHEMAS for schema, _ in reads)):
            system = sorted({f"{schema}.{relation}" for schema, relation in reads if schema in CATALOG_SCHEMAS} | set(facts.system_reads))
            plan.refusals.append(f"{label} creates a view over system catalogs ({', '.join(system) or 'pg_*'}): it would read them with its owner's rights")
        for schema, relation in reads:
            qualified = table(schema, relation)
            if qualified and qualified not in plan.created:
                grants.add(Grant("table", qualified, "SELECT"))
        if facts.kind in OWNER_ONLY_KINDS:
            targets = [f"{schema}.{relation}" for schema, relation in writes]
            if not all(target in plan.created for target in targets):
                plan.notes.append(f"{label} needs ownership of {', '.join(targets)}: not granted")
        elif creating:
            for schema, relation in writes:
                if schema == TEMP_SCHEMA:
                    resolver.temporary.add(relation)
                    plan.notes.append(f"{label}: temporary {relation} needs TEMPORARY on the database (PUBLIC's by default); no grant")
                    continue
                qualified = table(schema, relation)
                if qualified:
                    grants.add(Grant("schema", schema, "CREATE"))
                    plan.created.append(qualified)
                    resolver.created.add((schema, relation))
        else:
            for schema, relation in writes:
                qualified = table(schema, relation)
                if qualified and qualified not in plan.created:
                    for privilege in WRITE_PRIVILEGES.get(facts.kind, ()):
                        grants.add(Grant("table", qualified, privilege))
        path.after(facts, names)
    if any(grant.object == REGISTRY_SCHEMA for grant in grants):
        plan.refusals.append(f"the JIT registry ({REGISTRY_SCHEMA}) is never granted")
    plan.grants = sorted(grant for grant in grants if grant.object.split(".")[0] != REGISTRY_SCHEMA)
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
    grants: tuple[str, ...] = ()  # what was granted (the plan less what did not exist)


def role_name(prefix: str, run_id: str) -> str:
    """Short, unique, within PostgreSQL's 63 bytes; the run is traceable through the ledger."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{prefix}{digest}_{secrets.token_hex(4)}"


class LiveNames:
    """The admin connection as the resolver's catalog: which relations and schemas exist."""

    def __init__(self, connection):
        self.connection = connection

    def relation_exists(self, schema: str, relation: str) -> bool:
        return self.connection.execute(
            "select exists(select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s)",
            [schema, relation],
        ).fetchone()[0]

    def schema_exists(self, schema: str) -> bool:
        return self.connection.execute("select exists(select 1 from pg_namespace where nspname = %s)", [schema]).fetchone()[0]


# a role is a JIT role when the marker was made a member of it by a role that could drop it
# anyway (a superuser, or one with CREATEROLE): a registry row or a name prefix proves nothing
_PROVEN = """
    select r.rolname from pg_roles r
    join pg_auth_members m on m.roleid = r.oid
    join pg_roles marker on marker.oid = m.member and marker.rolname = %(marker)s
    join pg_roles grantor on grantor.oid = m.grantor
    where (grantor.rolsuper or grantor.rolcreaterole)
      and not (r.rolsuper or r.rolcreaterole or r.rolcreatedb or r.rolreplication or r.rolbypassrls)
      and r.rolname not in (%(marker)s, current_user, session_user)
"""


def secure_admin_session(connection) -> None:
    """The admin's session resolves functions and operators in pg_catalog only: a run's role with
    CREATE on a schema of the default path (public) could otherwise plant a better-matching
    ``public.pg_terminate_backend(int, int)`` that the admin would run with its own rights. And a
    lock a role's prepared transaction or another session keeps must not hang a revoke or a sweep."""
    connection.execute("set search_path = pg_catalog, pg_temp")
    connection.execute("set lock_timeout = '30s'")


class JitManager:
    """Creates, revokes and sweeps per-run roles through the admin connection."""

    def __init__(self, admin_dsn: str, policy, ledger=None, clock=lambda: datetime.now(timezone.utc)):
        self.settings = policy.policy.jit
        try:
            parse_admin_dsn(admin_dsn, f"${self.settings.admin_dsn_env}")
        except DsnError as error:
            raise JitError(str(error)) from None
        self.admin_dsn = admin_dsn
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

    @property
    def owner(self) -> str:
        if not self.settings.owner_role:
            raise JitError(
                "jit.owner_role is not set: objects a run creates would be handed to the admin. Create a dedicated "
                "NOLOGIN role (CREATE ROLE lineage_jit_owner NOLOGIN; GRANT lineage_jit_owner TO <admin>) and name it in "
                "the policy's jit.owner_role"
            )
        return self.settings.owner_role

    def _connect(self):
        import psycopg

        try:
            connection = psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as error:
            # the admin DSN holds a password: never echo it
            raise JitError(f"cannot connect with the JIT admin DSN (${self.settings.admin_dsn_env}): {type(error).__name__}") from None
        secure_admin_session(connection)
        return connection

    def _ensure_registry(self, connection) -> None:
        from psycopg import sql

        with connection.transaction():
            # "if not exists" still races between two first-time creators
            connection.execute("select pg_advisory_xact_lock(hashtext(%s))", [ACL_LOCK])
            connection.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(REGISTRY_SCHEMA)))
            connection.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(REGISTRY_SCHEMA)))
            connection.execute(
                sql.SQL(
                    """create table if not exists {}.roles (
                        role_name text primary key, run_id text not null, job text not null, principal text not null,
                        created_at timestamptz not null, expires_at timestamptz not null,
                        status text not null, ended_at timestamptz)"""
                ).format(sql.Identifier(REGISTRY_SCHEMA))
            )
            if not connection.execute("select 1 from pg_roles where rolname = %s", [MARKER_ROLE]).fetchone():
                connection.execute(sql.SQL("create role {} nologin noinherit").format(sql.Identifier(MARKER_ROLE)))
            # the admin writes the registry: one planted before (a trigger on roles) would run with the admin's rights
            owners, hooks = connection.execute(REGISTRY_TRUST, [REGISTRY_SCHEMA]).fetchone()
            if owners or hooks:
                raise JitError(
                    f"the JIT registry {REGISTRY_SCHEMA} is not the admin's own ({', '.join(owners + hooks)}): "
                    f"the admin does not write into it; drop it, or ALTER SCHEMA {REGISTRY_SCHEMA} OWNER TO the admin"
                )

    def _refuse_unsafe_roles(self, connection) -> None:
        problems = owner_problems(connection, self.owner) + marker_problems(connection)
        if problems:
            raise JitError("JIT refused: " + "; ".join(problems))

    def _default_search_path(self, connection) -> tuple[str, ...]:
        """The search_path a new session of the role would start with (the database's, else the server's)."""
        for (entries,) in connection.execute(
            "select setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase "
            "where d.datname = current_database() and s.setrole = 0"
        ).fetchall():
            for entry in entries or []:
                if entry.startswith("search_path="):
                    return parse_path(entry.split("=", 1)[1]) or DEFAULT_PATH
        value, source, boot = connection.execute("select reset_val, source, boot_val from pg_settings where name = 'search_path'").fetchone()
        # the admin's own role or connection settings are not the role's
        chosen = boot if source in ("user", "database user", "client", "session") else value
        return parse_path(chosen) or DEFAULT_PATH

    def plan(self, connection, decisions: Iterable[Decision], role: str) -> GrantPlan:
        """The plan against the live database: names resolved as the server will, SECURITY DEFINER calls refused."""
        plan = plan_grants(decisions, connection.info.dbname, self._default_search_path(connection), LiveNames(connection), role)
        if plan.functions:
            for schema, function, owner in connection.execute(
                "select n.nspname, p.proname, pg_get_userbyid(p.proowner) from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                "where p.prosecdef and lower(p.proname) = any(%s) order by 1, 2",
                [sorted(plan.functions)],
            ).fetchall():
                plan.refusals.append(
                    f"calls {function}: {schema}.{function} is SECURITY DEFINER (it runs with {owner}'s rights, which no grant bounds)"
                )
        return plan

    def create(self, identity: RunIdentity, decisions: Iterable[Decision]) -> JitRole:
        from psycopg import sql

        decisions = list(decisions)
        now = self.clock()
        expires = now + self.settings.ttl
        password = secrets.token_urlsafe(24)
        name = role_name(self.settings.role_prefix, identity.run_id)
        try:
            dsn = role_conninfo(self.admin_dsn, name, password, f"${self.settings.admin_dsn_env}")
        except DsnError as error:
            raise JitError(str(error)) from None
        with self._connect() as connection:
            self._ensure_registry(connection)
            self._refuse_unsafe_roles(connection)
            database = connection.info.dbname
            plan = self.plan(connection, decisions, name)
            if plan.refusals:
                self._record("jit_role_refused", identity, {"refusals": plan.refusals, "database": database})
                raise JitRefused("not run under a JIT role: " + "; ".join(plan.refusals))
            applied: list[str] = []
            with connection.transaction():
                # concurrent GRANTs on one table fail with "tuple concurrently updated": serialise ACL changes
                connection.execute("select pg_advisory_xact_lock(hashtext(%s))", [ACL_LOCK])
                connection.execute(
                    sql.SQL("insert into {}.roles values (%s, %s, %s, %s, %s, %s, 'active', null)").format(sql.Identifier(REGISTRY_SCHEMA)),
                    [name, identity.run_id, f"{identity.job_namespace}/{identity.job_name}", identity.principal, now, expires],
                )
                connection.execute(
                    sql.SQL("create role {} login noinherit password {} valid until {}").format(
                        sql.Identifier(name), sql.Literal(scram_verifier(password)), sql.Literal(expires.isoformat())
                    )
                )
                # the path the plan resolved names with is the one its sessions start with
                connection.execute(
                    sql.SQL("alter role {} set search_path to {}").format(sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, plan.search_path)))
                )
                # the proof that this is a JIT role (sweep drops nothing else), and the admin's
                # membership that lets it end the role's sessions and hand over what it made
                connection.execute(sql.SQL("grant {} to {}").format(sql.Identifier(name), sql.Identifier(MARKER_ROLE)))
                connection.execute(sql.SQL("grant {} to current_user").format(sql.Identifier(name)))
                connection.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), sql.Identifier(name)))
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
        role = JitRole(name, password, dsn, expires, plan, tuple(applied))
        self._record("jit_role_created", identity, {"role": name, "expires_at": expires.isoformat(), "grants": applied, "notes": plan.notes, "database": plan.database})
        return role

    def seal(self, role: JitRole) -> None:
        """No new logins as the role from now on; its open sessions go on. PostgreSQL lets any role
        change its own password and nothing can forbid it, but a sealed role cannot log in with
        the new one (nor give itself LOGIN back)."""
        from psycopg import sql

        with self._connect() as connection:
            connection.execute(sql.SQL("alter role {} nologin").format(sql.Identifier(role.name)))

    def revoke(self, role: JitRole | str, identity: RunIdentity, outcome: str = "ended") -> dict[str, Any]:
        """Drop the run's role; a failure is returned (and recorded), not raised: the role can no longer
        log in once the drop began, and the sweep retries after its TTL."""
        name = role.name if isinstance(role, JitRole) else role
        try:
            with self._connect() as connection:
                self._ensure_registry(connection)
                result = self._drop(connection, name, "revoked")
        except Exception as error:
            result = {"dropped": False, "reason": "revoked", "error": _error_text(error)}
        self._record("jit_role_revoked", identity, {"role": name, "run_outcome": outcome, **result})
        return result

    def sweep(self, identity: RunIdentity | None = None) -> list[str]:
        """Drop the JIT roles whose TTL passed (workers that died). Only roles proven to be JIT roles
        (the marker's membership, granted by an admin) are touched: registry rows prove nothing.
        One role that cannot be dropped does not stop the others. Safe to run concurrently."""
        from psycopg import sql

        identity = identity or RunIdentity(principal="svc:lineage-jit-sweep", source="cli")
        now = self.clock()
        swept = []
        with self._connect() as connection:
            self._ensure_registry(connection)
            expired = connection.execute(
                sql.SQL(_PROVEN + " and r.rolvaliduntil <= %(now)s order by 1"), {"marker": MARKER_ROLE, "now": now}
            ).fetchall()
            for (name,) in expired:
                try:
                    result = self._drop(connection, name, "swept")
                except Exception as error:  # one role must not leave the others behind
                    result = {"dropped": False, "reason": "swept", "error": _error_text(error)}
                if result.get("dropped"):
                    swept.append(name)
                    self._record("jit_role_swept", identity, {"role": name, **result})
                elif result.get("error"):
                    self._record("jit_role_sweep_failed", identity, {"role": name, **result})
            self._settle_registry(connection, identity)
        return swept

    def _settle_registry(self, connection, identity: RunIdentity) -> None:
        """Registry rows whose role is gone are closed; rows naming a role that is no JIT role are
        marked rejected (and recorded once), never acted on."""
        from psycopg import sql

        registry = sql.Identifier(REGISTRY_SCHEMA)
        rows = connection.execute(sql.SQL("select role_name from {}.roles where status not in ('dropped', 'rejected')").format(registry)).fetchall()
        proven = {name for (name,) in connection.execute(sql.SQL(_PROVEN), {"marker": MARKER_ROLE}).fetchall()}
        for (name,) in rows:
            if name in proven:
                continue
            exists = connection.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone()
            status = "rejected" if exists else "dropped"
            connection.execute(sql.SQL("update {}.roles set status = %s, ended_at = now() where role_name = %s").format(registry), [status, name])
            if exists:
                self._record("jit_registry_rejected", identity, {"role": name, "reason": f"{name} is not a JIT role (not granted to {MARKER_ROLE} by an admin): left alone"})

    def _is_proven(self, connection, name: str) -> bool:
        from psycopg import sql

        return connection.execute(sql.SQL(_PROVEN + " and r.rolname = %(name)s"), {"marker": MARKER_ROLE, "name": name}).fetchone() is not None

    def _drop(self, connection, name: str, reason: str) -> dict[str, Any]:
        from psycopg import sql

        registry = sql.Identifier(REGISTRY_SCHEMA)
        role = sql.Identifier(name)
        locked = connection.execute("select pg_try_advisory_lock(hashtext(%s))", [f"lineage_jit:{name}"]).fetchone()[0]
        if not locked:
            return {"dropped": False, "reason": "another sweeper holds it"}
        try:
            if not connection.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone():
                connection.execute(sql.SQL("update {}.roles set status = 'dropped', ended_at = now() where role_name = %s").format(registry), [name])
                return {"dropped": False, "sessions_terminated": 0, "reason": reason}
            if not self._is_proven(connection, name):
                connection.execute(sql.SQL("update {}.roles set status = 'rejected', ended_at = now() where role_name = %s").format(registry), [name])
                return {"dropped": False, "sessions_terminated": 0, "reason": f"{name} is not a JIT role (not granted to {MARKER_ROLE} by an admin): left alone"}
            # no new logins (the role cannot give itself LOGIN back), then end the sessions still open:
            # VALID UNTIL only stops new logins, and a changed password must not open one either
            connection.execute(sql.SQL("alter role {} nologin").format(role))
            terminated = connection.execute(
                "select count(*) filter (where pg_terminate_backend(pid, 5000)) from pg_stat_activity where usename = %s and pid <> pg_backend_pid()", [name]
            ).fetchone()[0]
            with connection.transaction():
                connection.execute("select pg_advisory_xact_lock(hashtext(%s))", [ACL_LOCK])
                problems = owner_problems(connection, self.owner)
                if problems:
                    raise JitError(f"{name} kept (it cannot log in): its objects are not handed to an unsafe owner: " + "; ".join(problems))
                handed = hand_over(connection, name, self.owner)
                connection.execute(sql.SQL("drop owned by {} cascade").format(role))
                connection.execute(sql.SQL("drop role {}").format(role))
                connection.execute(sql.SQL("update {}.roles set status = 'dropped', ended_at = now() where role_name = %s").format(registry), [name])
            return {"dropped": True, "sessions_terminated": terminated, "reason": reason, **handed}
        finally:
            connection.execute("select pg_advisory_unlock(hashtext(%s))", [f"lineage_jit:{name}"])

    def _record(self, kind: str, identity: RunIdentity, payload: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.record_event(kind, identity, payload)


def _error_text(error: BaseException) -> str:
    # psycopg's message names objects, never the admin DSN
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"


_OWNED_SEQUENCES = """
    select ns.nspname, seq.relname
    from pg_depend dep
    join pg_class seq on seq.oid = dep.objid and seq.relkind = 'S'
    join pg_namespace ns on ns.oid = seq.relnamespace
    where dep.refobjid = to_regclass(%s) and dep.deptype in ('a', 'i')
"""
