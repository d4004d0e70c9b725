"""The run-identity comment every executed statement carries, in the sqlcommenter style.

    /*job='etl.load_customers',lg_policy='sha256%3A1f2e...',principal='svc%3Aetl',run_id='0190...'*/

Keys are sorted and values URL-encoded (sqlcommenter's rules), so the comment survives in
database logs (PostgreSQL's csvlog keeps comments) and parses back without ambiguity.
``lineage correlate`` reads it back; the dbt macro ``identity_comment`` mirrors this format.
PostgreSQL sessions also get ``application_name`` (see ``application_name``).
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import quote, unquote

from lineage.identity.run_identity import RunIdentity

COMMENT_KEYS = ("run_id", "job", "principal", "lg_policy")


def comment_fields(identity: RunIdentity, policy_version: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    fields = {
        "run_id": identity.run_id,
        "job": f"{identity.job_namespace}/{identity.job_name}",
        "principal": identity.principal,
        "source": identity.source,
    }
    if identity.actor:
        fields["actor"] = identity.actor
    if identity.parent_run_id:
        fields["parent_run_id"] = identity.parent_run_id
    if policy_version:
        fields["lg_policy"] = policy_version
    for key in ("dag_id", "task_id", "try_number", "invocation_id", "node_id"):
        value = identity.attributes.get(key)
        if value is not None:
            fields[key] = str(value)
    if extra:
        fields.update({key: str(value) for key, value in extra.items()})
    return fields


def format_comment(fields: Mapping[str, str]) -> str:
    """``/*k='v',...*/`` with sorted keys and URL-encoded keys and values."""
    body = ",".join(f"{quote(str(key), safe='')}='{quote(str(value), safe='')}'" for key, value in sorted(fields.items()))
    return f"/*{body}*/"


def identity_comment(identity: RunIdentity, policy_version: str | None = None, extra: Mapping[str, str] | None = None) -> str:
    return format_comment(comment_fields(identity, policy_version, extra))


def stamp(sql: str, comment: str) -> str:
    """Append the comment after the statement (sqlcommenter places it at the end)."""
    body = sql.rstrip()
    trailing_semicolon = body.endswith(";")
    if trailing_semicolon:
        body = body[:-1].rstrip()
    if "--" in body.rsplit("\n", 1)[-1]:
        body += "\n"  # a trailing line comment would swallow ours
    return f"{body} {comment}" + (";" if trailing_semicolon else "")


def escape_for_format_params(sql: str) -> str:
    """Double the ``%`` of the identity comment ``stamp`` put last, for drivers whose parameters
    are format-style (``%s``): its URL-encoded values would read as placeholders; the server sees
    them single again. Anything that is not our comment stays as it is.

    >>> escape_for_format_params("select %s /*run_id='a%2Fb'*/;")
    "select %s /*run_id='a%%2Fb'*/;"
    """
    end = sql.rfind("*/")
    start = sql.rfind("/*", 0, end) if end != -1 else -1
    if start == -1 or parse_comment(sql[start : end + 2]) is None:
        return sql
    return sql[:start] + sql[start:end].replace("%", "%%") + sql[end:]


def parse_comment(text: str) -> dict[str, str] | None:
    """The fields of the last sqlcommenter comment in ``text`` (for reading database logs)."""
    end = text.rfind("*/")
    start = text.rfind("/*", 0, end) if end != -1 else -1
    if start == -1:
        return None
    body = text[start + 2 : end]
    fields: dict[str, str] = {}
    for part in _split_pairs(body):
        key, sep, value = part.partition("=")
        if not sep or len(value) < 2 or value[0] != "'" or value[-1] != "'":
            return None
        fields[unquote(key.strip())] = unquote(value[1:-1])
    return fields or None


def _split_pairs(body: str) -> list[str]:
    # values are URL-encoded, so a raw comma only ever separates pairs
    # dbt's query-comment wraps the body as ``/* body */``: spaces around pairs are not part of them
    return [part.strip() for part in body.split(",") if part.strip()]


def application_name(identity: RunIdentity) -> str:
    """PostgreSQL ``application_name`` (max 63 bytes): ``lg:<run id>:<principal>``."""
    value = f"lg:{identity.run_id}:{identity.principal}"
    return value.encode()[:63].decode(errors="ignore")
