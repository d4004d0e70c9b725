"""What the JIT admin, the owner role and PUBLIC can do that they should not (``lineage jit check``).

JIT shrinks what a run may do only if the roles around it are small too:

- the **owner role** takes over what runs create, so its rights act through those objects: it
  must be a NOLOGIN role with no attributes and no memberships (``owner_problems``; JIT refuses
  to run otherwise);
- the **marker role** proves which roles are JIT roles: nobody may log in as it or be its member;
- the **admin** creates roles, so on PostgreSQL 15 it can make itself a superuser in effect
  (CREATEROLE lets it grant itself ``pg_execute_server_program``): it should have nothing more;
- **PUBLIC**'s rights are every JIT role's rights (no grant can take them away from one role):
  CONNECT to other databases, TEMPORARY, CREATE on schemas, EXECUTE on SECURITY DEFINER functions.

    audit(connection, owner="lineage_jit_owner")
    -> [Finding("error", "admin", "jitadmin is a superuser: ..."), Finding("warning", "public", "...")]
"""

from __future__ import annotations

from dataclasses import dataclass

from lineage.decide.rules.jit_registry import REGISTRY_SCHEMA

# member of every JIT role, granted by the admin: the proof that a role is one
MARKER_ROLE = "lineage_jit_roles"
ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")
ATTRIBUTE_NAMES = {"rolsuper": "SUPERUSER", "rolcreaterole": "CREATEROLE", "rolcreatedb": "CREATEDB", "rolreplication": "REPLICATION", "rolbypassrls": "BYPASSRLS"}
# predefined roles that reach the server's files and programs, or every table
SERVER_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files", "pg_read_all_data", "pg_write_all_data", "pg_signal_backend")


# who owns the registry's schema and objects (other than the admin or a superuser), and triggers or
# rules on them (which would run when the admin writes)
REGISTRY_TRUST = """
    with registry as (select oid, nspowner from pg_namespace where nspname = %s),
    untrusted as (select oid from pg_roles where not rolsuper and rolname <> current_user)
    select
      array(select 'schema owned by ' || pg_get_userbyid(r.nspowner) from registry r where r.nspowner in (select oid from untrusted)
            union all
            select c.relname || ' owned by ' || pg_get_userbyid(c.relowner) from pg_class c, registry r
            where c.relnamespace = r.oid and c.relowner in (select oid from untrusted)),
      array(select 'trigger ' || t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid, registry r
            where c.relnamespace = r.oid and not t.tgisinternal
            union all
            select 'rule ' || w.rulename from pg_rewrite w join pg_class c on c.oid = w.ev_class, registry r
            where c.relnamespace = r.oid and w.rulename <> '_RETURN')
"""


@dataclass(frozen=True)
class Finding:
    level: str  # error: fix it | warning: a risk to accept knowingly
    subject: str  # admin | owner | marker | public | registry
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "subject": self.subject, "message": self.message}


def _attributes(connection, role: str):
    return connection.execute(
        "select rolcanlogin, rolinherit, " + ", ".join(ATTRIBUTES) + " from pg_roles where rolname = %s", [role]
    ).fetchone()


def _memberships(connection, role: str) -> list[str]:
    return [
        name
        for (name,) in connection.execute(
            "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member "
            "where r.rolname = %s order by 1",
            [role],
        ).fetchall()
    ]


def owner_problems(connection, owner: str) -> list[str]:
    """Why ``owner`` must not take over what runs create (empty: it may)."""
    row = _attributes(connection, owner)
    if row is None:
        return [f"owner role {owner} does not exist (CREATE ROLE {owner} NOLOGIN)"]
    login, _inherit, *flags = row
    problems = []
    if login:
        problems.append(f"owner role {owner} can log in (ALTER ROLE {owner} NOLOGIN)")
    held = [ATTRIBUTE_NAMES[name] for name, value in zip(ATTRIBUTES, flags) if value]
    if held:
        problems.append(f"owner role {owner} has {', '.join(held)}")
    member_of = _memberships(connection, owner)
    if member_of:
        problems.append(f"owner role {owner} is a member of {', '.join(member_of)} (it needs no role's rights)")
    user, session, database_owner = connection.execute(
        "select current_user, session_user, pg_get_userbyid(datdba) from pg_database where datname = current_database()"
    ).fetchone()
    if owner in (user, session):
        problems.append(f"owner role {owner} is the admin itself")
    if owner == database_owner:
        problems.append(f"owner role {owner} owns the database")
    return problems


def marker_problems(connection) -> list[str]:
    """Why the marker role cannot prove which roles are JIT roles (empty: it can)."""
    row = _attributes(connection, MARKER_ROLE)
    if row is None:
        return []  # created on first use
    login, _inherit, *flags = row
    problems = []
    if login or any(flags):
        problems.append(f"marker role {MARKER_ROLE} can log in or has attributes (it must be a bare NOLOGIN role)")
    members = [
        name
        for (name,) in connection.execute(
            "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.member join pg_roles g on g.oid = m.roleid where g.rolname = %s",
            [MARKER_ROLE],
        ).fetchall()
    ]
    if members:
        problems.append(f"marker role {MARKER_ROLE} has members ({', '.join(members)}): they can act as every JIT role")
    return problems


def audit(connection, owner: str | None) -> list[Finding]:
    """Everything ``lineage jit check`` reports, errors first."""
    findings = _admin(connection, owner)
    if owner:
        findings += [Finding("error", "owner", problem) for problem in owner_problems(connection, owner)]
        findings += _owner_rights(connection, owner)
    else:
        findings.append(Finding("error", "owner", "jit.owner_role is not set: JIT refuses to run without a dedicated NOLOGIN owner role"))
    findings += [Finding("error", "marker", problem) for problem in marker_problems(connection)]
    findings += _registry(connection)
    findings += _public(connection)
    return sorted(findings, key=lambda finding: finding.level != "error")


def _admin(connection, owner: str | None) -> list[Finding]:
    admin = connection.execute("select current_user").fetchone()[0]
    version = connection.info.server_version
    login, _inherit, superuser, createrole, createdb, replication, bypassrls = _attributes(connection, admin)
    findings = []
    if superuser:
        findings.append(Finding("error", "admin", f"{admin} is a superuser: it can do anything, and so can whoever holds the admin DSN; use a role with CREATEROLE instead"))
    elif not createrole:
        findings.append(Finding("error", "admin", f"{admin} has no CREATEROLE: it cannot create the runs' roles"))
    elif version < 160000:
        findings.append(
            Finding(
                "warning",
                "admin",
                f"{admin} has CREATEROLE on PostgreSQL {version // 10000}: it can grant itself any non-superuser role, including "
                "pg_execute_server_program (COPY ... TO PROGRAM runs shell commands as the server's OS user) and pg_read_all_data. "
                "It is a superuser in effect: keep the admin DSN where only the JIT machinery reads it (PostgreSQL 16 limits CREATEROLE)",
            )
        )
    for name, flag in (("CREATEDB", createdb), ("REPLICATION", replication), ("BYPASSRLS", bypassrls)):
        if flag:
            findings.append(Finding("error", "admin", f"{admin} has {name}: the JIT admin does not need it (ALTER ROLE {admin} NO{name})"))
    member_of = _memberships(connection, admin)
    for role in member_of:
        if role in SERVER_ROLES:
            findings.append(Finding("error", "admin", f"{admin} is a member of {role}: the JIT admin does not need it (REVOKE {role} FROM {admin})"))
    jit_roles = {
        name
        for (name,) in connection.execute(
            "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member where r.rolname = %s",
            [MARKER_ROLE],
        ).fetchall()
    }
    others = [role for role in member_of if role not in SERVER_ROLES and not role.startswith("pg_") and role != owner and role not in jit_roles]
    if others:
        findings.append(Finding("warning", "admin", f"{admin} is a member of {', '.join(others)}: it holds their rights (it needs only the owner role and the runs' roles)"))
    owned = connection.execute(
        "select count(*), string_agg(n.nspname || '.' || c.relname, ', ' order by n.nspname, c.relname) filter (where c.relkind in ('r', 'p', 'v', 'm')) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relowner = to_regrole(current_user) and c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname <> %s "
        "and n.nspname not in ('pg_catalog', 'information_schema')",
        [REGISTRY_SCHEMA],
    ).fetchone()
    if owned[0]:
        findings.append(
            Finding(
                "warning",
                "admin",
                f"{admin} owns {owned[0]} relation(s) ({(owned[1] or '')[:300]}): ownership lets it alter and drop them; "
                "grant it the privileges runs need WITH GRANT OPTION instead",
            )
        )
    if connection.execute("select datdba = to_regrole(current_user) from pg_database where datname = current_database()").fetchone()[0]:
        findings.append(Finding("warning", "admin", f"{admin} owns the database: it needs only CONNECT WITH GRANT OPTION on it"))
    return findings


def _owner_rights(connection, owner: str) -> list[Finding]:
    rows = connection.execute(
        "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p', 'v', 'm', 'f') and c.relowner <> to_regrole(%s) "
        "and n.nspname not in ('pg_catalog', 'information_schema') and has_table_privilege(%s, c.oid, 'SELECT') order by 1",
        [owner, owner],
    ).fetchall()
    if not rows:
        return []
    names = ", ".join(name for (name,) in rows[:10]) + (", ..." if len(rows) > 10 else "")
    return [Finding("warning", "owner", f"owner role {owner} can read {len(rows)} relation(s) it does not own ({names}): every view a run creates reads with these rights")]


def _registry(connection) -> list[Finding]:
    findings = []
    owners, hooks = connection.execute(REGISTRY_TRUST, [REGISTRY_SCHEMA]).fetchone()
    if owners or hooks:
        findings.append(Finding("error", "registry", f"the JIT registry ({REGISTRY_SCHEMA}) is not the admin's own: {', '.join(owners + hooks)} (JIT refuses to write into it)"))
    rows = connection.execute(
        "select distinct case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end from pg_namespace n, aclexplode(n.nspacl) a "
        "where n.nspname = %s and a.grantee <> n.nspowner "
        "union select distinct case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a "
        "where n.nspname = %s and a.grantee <> c.relowner",
        [REGISTRY_SCHEMA, REGISTRY_SCHEMA],
    ).fetchall()
    grantees = sorted(name or "PUBLIC" for (name,) in rows)
    if grantees:
        findings.append(Finding("error", "registry", f"the JIT registry ({REGISTRY_SCHEMA}) is granted to {', '.join(grantees)}: only the admin may use it"))
    return findings


def _public(connection) -> list[Finding]:
    findings = []
    database = connection.info.dbname
    others = [
        name
        for (name,) in connection.execute(
            "select datname from pg_database where datallowconn and datname <> current_database() and "
            "(datacl is null or exists (select 1 from aclexplode(datacl) a where a.grantee = 0 and a.privilege_type = 'CONNECT')) order by 1"
        ).fetchall()
    ]
    if others:
        findings.append(
            Finding(
                "warning",
                "public",
                f"PUBLIC may connect to {', '.join(others)}, so every JIT role can (no grant takes it from one role): "
                "REVOKE CONNECT ON DATABASE <name> FROM PUBLIC and grant it to the roles that use it, or reject JIT roles there in pg_hba.conf",
            )
        )
    if connection.execute(
        "select datacl is null or exists (select 1 from aclexplode(datacl) a where a.grantee = 0 and a.privilege_type = 'TEMPORARY') "
        "from pg_database where datname = current_database()"
    ).fetchone()[0]:
        findings.append(
            Finding("warning", "public", f"PUBLIC may create temporary tables in {database}, so every JIT role can: REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC unless runs need them")
        )
    schemas = [
        name
        for (name,) in connection.execute(
            "select n.nspname from pg_namespace n, aclexplode(n.nspacl) a where a.grantee = 0 and a.privilege_type = 'CREATE' order by 1"
        ).fetchall()
    ]
    if schemas:
        findings.append(Finding("warning", "public", f"PUBLIC may create objects in schema(s) {', '.join(schemas)}, so every JIT role can: REVOKE CREATE ON SCHEMA ... FROM PUBLIC"))
    definers = connection.execute(
        "select p.oid::regprocedure::text, pg_get_userbyid(p.proowner) from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema') and "
        "(p.proacl is null or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE')) order by 1"
    ).fetchall()
    for signature, owner in definers:
        findings.append(
            Finding(
                "error",
                "public",
                f"PUBLIC may execute {signature}, a SECURITY DEFINER function running as {owner}: every JIT role reaches what it reads "
                f"(JIT refuses statements calling it, but a role's own session can): REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC",
            )
        )
    return findings
