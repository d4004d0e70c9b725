"""What a run's role made, handed to the owner role when the role is dropped: data, never code.

A run's objects outlive it, so they need an owner; the owner's rights then act through them.
Only relations (tables, partitioned and foreign tables, views, materialized views, standalone
sequences; their indexes and owned sequences follow the table) and plain types (enum, domain,
composite, range) are handed over; privileges the role granted PUBLIC on them are revoked (the
others are listed, for the ledger). Rules other than a view's own are dropped first: a rule runs
its actions with the table owner's rights for whoever writes the table. Everything else the role
owns (functions and procedures, above all SECURITY DEFINER ones, which would run with the
owner's rights for anyone allowed to call them; operators, aggregates, ...) is not handed over:
the caller drops it with ``DROP OWNED ... CASCADE``, which also removes what depends on it.

    hand_over(connection, "lg_1a2b_c3d4", "lineage_jit_owner")
    -> {"handed_over": ["mart.snapshot"], "not_handed_over": ["function mart.f()"], "rules_dropped": []}
"""

from __future__ import annotations

from typing import Any

# relkind -> the ALTER that changes its owner
RELATION_KINDS = {"r": "table", "p": "table", "f": "foreign table", "v": "view", "m": "materialized view", "S": "sequence"}
TYPE_KINDS = {"e": "type", "c": "type", "r": "type", "d": "domain"}

_RELATIONS = """
    select c.relkind, n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relowner = to_regrole(%(role)s) and c.relkind = any(%(kinds)s)
      -- a sequence owned by a table column (serial, identity) follows its table
      and not (c.relkind = 'S' and exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
               and d.objid = c.oid and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')))
    order by 2, 3
"""
_TYPES = """
    select t.typtype, n.nspname, t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where t.typowner = to_regrole(%(role)s) and t.typtype = any(%(kinds)s)
      and (t.typtype <> 'c' or (select relkind from pg_class where oid = t.typrelid) = 'c')
    order by 2, 3
"""
_RULES = """
    select r.rulename, n.nspname, c.relname from pg_rewrite r join pg_class c on c.oid = r.ev_class
    join pg_namespace n on n.oid = c.relnamespace
    where c.relowner = to_regrole(%(role)s) and r.rulename <> '_RETURN'
"""
_GRANTS = """
    select a.grantee = 0, case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end, a.privilege_type
    from pg_class c, aclexplode(c.relacl) a where c.oid = to_regclass(%(relation)s) and a.grantee <> c.relowner order by 2, 3
"""
_FUNCTIONS = "select p.oid::regprocedure::text, p.prokind from pg_proc p where p.proowner = to_regrole(%(role)s) order by 1"


def hand_over(connection, role: str, owner: str) -> dict[str, Any]:
    """Give ``owner`` the relations and types ``role`` owns in this database, after dropping their
    rules; list what stays behind for ``DROP OWNED``. Runs in the caller's transaction."""
    from psycopg import sql

    args = {"role": role}
    target = sql.Identifier(owner)
    rules = connection.execute(_RULES, args).fetchall()
    for rule, schema, relation in rules:
        connection.execute(sql.SQL("drop rule {} on {}").format(sql.Identifier(rule), sql.Identifier(schema, relation)))
    handed, kept = [], []
    for kind, schema, relation in connection.execute(_RELATIONS, {**args, "kinds": list(RELATION_KINDS)}).fetchall():
        name = sql.Identifier(schema, relation)
        connection.execute(sql.SQL("alter {} {} owner to {}").format(sql.SQL(RELATION_KINDS[kind]), name, target))
        handed.append(f"{schema}.{relation}")
        grants = connection.execute(_GRANTS, {"relation": name.as_string(connection)}).fetchall()
        if any(public for public, _, _ in grants):
            # the role's own grants outlive it: never to every role (a governed GRANT ... TO PUBLIC is blocked too)
            on = "sequence" if kind == "S" else "table"
            connection.execute(sql.SQL("revoke all on {} {} from public").format(sql.SQL(on), name))
        kept += [f"{schema}.{relation}: {privilege} to {grantee}" for public, grantee, privilege in grants if not public]
    for kind, schema, name in connection.execute(_TYPES, {**args, "kinds": list(TYPE_KINDS)}).fetchall():
        connection.execute(sql.SQL("alter {} {} owner to {}").format(sql.SQL(TYPE_KINDS[kind]), sql.Identifier(schema, name), target))
        handed.append(f"type {schema}.{name}")
    left = [f"{'procedure' if kind == 'p' else 'function'} {signature}" for signature, kind in connection.execute(_FUNCTIONS, args).fetchall()]
    return {
        "handed_over": handed,
        "grants_kept": kept,  # the role granted them (a governed, approved GRANT, or its own session): recorded
        "not_handed_over": left,
        "rules_dropped": [f"{rule} on {schema}.{relation}" for rule, schema, relation in rules],
    }
