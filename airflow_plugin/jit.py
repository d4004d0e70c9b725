"""Just-in-time database credentials for a task (PostgreSQL): a role that expires with the task try.

    policy: jit: {enabled: true, ttl: 15m, environments: [prod]}
    task start: the operator's SQL decided -> role lg_<run>_<rand> granted exactly what it needs
    every PostgreSQL session the task opens on that connection logs in as the role
    task end (success or failure): the role's sessions ended, its grants and the role dropped

    SIGTERM (the task killed): the roles are dropped then, before the SIGKILL that may follow
    worker start: roles of earlier workers that died (kill -9) are swept once their TTL passed

The role is created through the admin DSN in ``$LINEAGE_JIT_ADMIN_DSN`` (the policy names the
variable), which never runs pipeline SQL. Every session opened with the role's credentials is
checked to be the role (``current_user`` and ``session_user``) before anything runs on it. The Airflow connection's own login only reads the
catalog (information_schema) at task start and serves the OpenLineage provider's metadata
lookups. A task whose SQL is not known before it runs (a ``@task`` calling a hook) cannot be
granted up front: under JIT it fails at its first PostgreSQL connection with a clear error
(fail closed) rather than running with the connection's standing credentials.
"""

from __future__ import annotations

import logging
import threading

from airflow_plugin.failures import fail
from airflow_plugin.scopes import STANDING_CREDENTIALS

log = logging.getLogger("airflow.task.lineage_governance")

_swept_at_start = False
_sweep_lock = threading.Lock()


def applies(governance, target) -> bool:
    return bool(target.is_postgres and governance.runtime.policy.policy.jit.applies_to(governance.identity.environment))


def grant(governance, hook, binding, decisions) -> None:
    """Create the task's role for this connection from its decided statements."""
    from lineage.jit.manager import JitError, JitManager

    key = governance.connection_key(hook)
    if key in governance.jit_roles:
        return
    try:
        manager = JitManager.from_policy(governance.runtime.policy, governance.runtime.ledger)
        sweep_at_start(manager)
        role = manager.create(binding.identity, decisions)
    except JitError as error:
        raise fail(f"lineage-governance JIT credentials: {error}") from None
    if not governance.jit_roles:  # the task's end drops them: runtime.finish calls this back
        governance.on_finish.append(lambda state: revoke_all(governance, state))
    governance.jit_roles[key] = (manager, role)
    binding.identity = binding.identity.with_(database_user=role.name)
    log.info("lineage-governance: statements run as %s (valid until %s), granted: %s", role.name, role.expires_at.isoformat(), "; ".join(role.grants) or "nothing")
    if role.plan.notes:
        log.info("lineage-governance: not granted: %s", "; ".join(role.plan.notes))


def sweep_at_start(manager) -> None:
    """Once per worker process: drop the JIT roles of workers that died (SIGKILL leaves no time to
    clean up) and whose TTL passed. A sweep that fails is logged; it never fails the task."""
    global _swept_at_start
    with _sweep_lock:
        if _swept_at_start:
            return
        _swept_at_start = True
    try:
        swept = manager.sweep()
        if swept:
            log.info("lineage-governance: swept %d expired JIT role(s) of earlier workers: %s", len(swept), ", ".join(swept))
    except Exception:
        log.exception("lineage-governance: the JIT sweep at worker start failed (run `lineage jit sweep`)")


def check_session(governance, hook, connection) -> None:
    """Raise AirflowFailException unless ``connection`` (a new DB-API connection opened with the
    task's role) is the role: a connection's extras must not make it someone else."""
    granted = governance.jit_roles.get(governance.connection_key(hook))
    if granted is None:
        return
    from lineage.jit.dsn import DsnError, check_session_user

    cursor = connection.cursor()
    try:
        check_session_user(cursor, granted[1].name)
    except DsnError as error:
        connection.close()
        raise fail(f"lineage-governance JIT credentials: {error}") from None
    finally:
        cursor.close()
    if not getattr(connection, "autocommit", True):
        connection.rollback()  # leave no transaction open: the hook sets autocommit next


def credentials(governance, hook) -> tuple[str, str] | None:
    """(user, password) a new PostgreSQL session of this hook must use, or None for its own login.

    Raises AirflowFailException when JIT applies but no role was granted (SQL not known up front).
    """
    if STANDING_CREDENTIALS.get():
        return None
    binding = governance.binding(hook)
    if not applies(governance, binding.target):
        return None
    granted = governance.jit_roles.get(governance.connection_key(hook))
    if granted is None:
        raise fail(
            "lineage-governance: the policy requires just-in-time credentials in environment "
            f"{governance.identity.environment!r}, but this task's SQL on connection {hook.get_conn_id()!r} was not "
            "known before it ran (a @task calling a hook?), so no role could be granted. Use a SQL operator "
            "(SQLExecuteQueryOperator) for this connection, or leave this environment out of the policy's jit section."
        )
    role = granted[1]
    return role.name, role.password


def revoke_all(governance, state: str) -> None:
    """Drop every role the task try was granted (at task end, success or failure, and on SIGTERM)."""
    for key, (manager, role) in list(governance.jit_roles.items()):
        governance.jit_roles.pop(key, None)
        try:
            outcome = {"COMPLETE": "succeeded", "TERMINATED": "terminated"}.get(state, "failed")
            result = manager.revoke(role, governance.identity, outcome)
            if result.get("dropped"):
                log.info("lineage-governance: role %s dropped (%s session(s) ended)", role.name, result.get("sessions_terminated"))
            else:
                log.error("lineage-governance: role %s NOT dropped (%s); `lineage jit sweep` removes it after its TTL", role.name, result.get("error") or result.get("reason"))
        except Exception:
            log.exception("lineage-governance: could not drop role %s; `lineage jit sweep` removes it after its TTL", role.name)


def terminated() -> None:
    """The task is being killed (SIGTERM: Airflow calls the task's ``on_kill``): drop its roles now,
    which also ends their sessions, so the statement running stops; the SIGKILL that may follow
    would leave the roles alive until their TTL."""
    from airflow_plugin.runtime import running

    governance = running()
    if governance is not None and governance.jit_roles:
        log.warning("lineage-governance: task terminated: dropping its JIT role(s)")
        revoke_all(governance, "TERMINATED")
