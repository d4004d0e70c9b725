"""The run's role connects to the admin DSN's server with nothing of the admin's identity.

The role's connection parameters are built from the admin DSN with psycopg's conninfo functions
(never by pasting strings, where a ``?user=...&password=...`` or ``host=/socket`` query survived
and libpq let it override the role's login). Only parameters that say where the server is and
how to verify it are carried over (an allowlist); the login is replaced; anything that could
change who the session is or what it runs as (``options``, ``service``, client certificates,
``replication``) is refused, naming the parameter.

    role_conninfo("postgresql://jitadmin:pw@db:5432/sales?sslmode=verify-full&user=postgres", "lg_1", "s3cret")
    -> "host=db port=5432 dbname=sales sslmode=verify-full user=lg_1 password=s3cret"

After connecting, ``check_session_user`` proves the session really is the role.
"""

from __future__ import annotations

from typing import Any

# where the server is and how the client verifies it
CARRIED = (
    "host", "hostaddr", "port", "dbname", "connect_timeout", "client_encoding", "application_name",
    "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", "target_session_attrs", "load_balance_hosts", "sslmode", "sslrootcert", "sslcrl",
    "sslcrldir", "sslsni", "sslcompression", "ssl_min_protocol_version", "ssl_max_protocol_version",
    "gssencmode", "channel_binding", "require_auth", "requirepeer",
)
# the admin's login: replaced by the role's
REPLACED = ("user", "password", "passfile")


class DsnError(Exception):
    pass


def parse_admin_dsn(dsn: str, variable: str = "the admin DSN") -> dict[str, Any]:
    """The admin DSN's parameters (URL or key=value form). libpq's own parse error is withheld:
    it can quote the text around the error, which is where the password is."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except Exception:
        raise DsnError(f"{variable} is not a PostgreSQL connection string (postgresql://... or key=value; libpq's message is not shown: it may quote the password)") from None


def role_conninfo(admin_dsn: str, user: str, password: str, variable: str = "the admin DSN") -> str:
    """The role's connection string: the admin DSN's server, the role's login, nothing else."""
    from psycopg.conninfo import make_conninfo

    params = parse_admin_dsn(admin_dsn, variable)
    refused = sorted(key for key in params if key not in CARRIED and key not in REPLACED)
    if refused:
        raise DsnError(
            f"{variable} sets {', '.join(refused)}: the run's role must not connect with it (it could change who the "
            "session is or what it runs as); remove it, and give the server as host, port and dbname"
        )
    dbname = str(params.get("dbname") or "")
    if "=" in dbname or dbname.startswith(("postgres://", "postgresql://")):
        raise DsnError(f"{variable}: dbname must be a database name, not a connection string")
    carried = {key: value for key, value in params.items() if key in CARRIED}
    return make_conninfo("", **carried, user=user, password=password)


def check_session_user(cursor, expected: str) -> None:
    """Raise DsnError unless the session behind ``cursor`` (any DB-API cursor) is ``expected``
    both as session user and as current user."""
    cursor.execute("select current_user, session_user")
    current, session = cursor.fetchone()
    if current != expected or session != expected:
        raise DsnError(
            f"the session logged in as {session!r} (current user {current!r}), not as the run's role {expected!r}: "
            "nothing runs on it"
        )
