"""The plugin's settings: the ``[lineage_governance]`` section of Airflow's configuration.

Every key can also come from the environment the Airflow way
(``AIRFLOW__LINEAGE_GOVERNANCE__POLICY_FILE=/etc/lineage/policy.yaml``).

    [lineage_governance]
    enabled = True                     # False: the plugin does nothing (tasks run ungoverned)
    policy_file = /etc/lineage/policy.yaml
    environment = prod                 # the policy's environments (default: $LINEAGE_ENV, else dev)
    mode =                             # enforce | audit; empty: the policy's own mode
    ledger_url =                       # sqlite:///path or postgresql://... (default: $LINEAGE_LEDGER_URL)
    approvals_url =                    # default: $LINEAGE_APPROVALS_URL, else next to the ledger
    approvals_signing_key =            # the UI's Ed25519 private key file (its public key: the policy's approvals.server_keys)
    catalog = live                     # live (information_schema of each connection) | a JSON file | none
    approval_poll_interval = 60        # seconds between checks while a task waits for an approval
    notify_conn_id =                   # Airflow connection holding the Slack/webhook URL for approvals
    comment = True                     # stamp every statement with the identity comment
    events = True                      # OpenLineage events for governed statements (False: none)
    events_file =                      # also write every event to this JSONL file (default: $LINEAGE_EVENTS_FILE)
    events_spool =                     # the durable spool (default: $LINEAGE_EVENTS_SPOOL, else .lineage/events-spool.db)
    events_transport =                 # openlineage-python transport config as JSON, e.g. {"type": "http", "url": "http://marquez:5000"}

Events leave through the spool to openlineage-python's transport: ``events_transport`` if set,
else openlineage-python's standard configuration (``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``,
``openlineage.yml``), else the OpenLineage provider's ``[openlineage] transport``, so statement
events reach the same backend as the provider's task events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SECTION = "lineage_governance"
MODES = ("enforce", "audit")


class SettingsError(Exception):
    """A setting that cannot be used; the message names ``[lineage_governance] key``."""


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    policy_file: str | None = None
    environment: str = "dev"
    mode: str | None = None
    ledger_url: str | None = None
    approvals_url: str | None = None
    approvals_signing_key: str | None = None
    catalog: str = "live"
    approval_poll_interval: float = 60.0
    notify_conn_id: str | None = None
    comment: bool = True
    events: bool = True
    events_file: str | None = None
    events_spool: str | None = None
    events_transport: str | None = None


def _conf():
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        from airflow.configuration import conf
    return conf


def load_settings(conf=None) -> Settings:
    """Read the section (environment variables included); bad values raise SettingsError."""
    conf = conf or _conf()

    def text(key: str, default: str | None = None) -> str | None:
        value = conf.get(SECTION, key, fallback=None)
        value = value.strip() if isinstance(value, str) else value
        return value if value not in (None, "") else default

    def flag(key: str, default: bool) -> bool:
        value = text(key)
        if value is None:
            return default
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise SettingsError(f"[{SECTION}] {key}: {value!r} is not a boolean (True or False)")

    mode = text("mode")
    if mode is not None and mode not in MODES:
        raise SettingsError(f"[{SECTION}] mode: {mode!r} is not one of {', '.join(MODES)}")
    interval_text = text("approval_poll_interval", "60")
    try:
        interval = float(interval_text)
    except ValueError:
        raise SettingsError(f"[{SECTION}] approval_poll_interval: {interval_text!r} is not a number of seconds") from None
    if interval <= 0:
        raise SettingsError(f"[{SECTION}] approval_poll_interval: must be positive, got {interval_text}")
    return Settings(
        enabled=flag("enabled", True),
        policy_file=text("policy_file", os.environ.get("LINEAGE_POLICY")),
        environment=text("environment", os.environ.get("LINEAGE_ENV") or "dev"),
        mode=mode,
        ledger_url=text("ledger_url", os.environ.get("LINEAGE_LEDGER_URL")),
        approvals_url=text("approvals_url", os.environ.get("LINEAGE_APPROVALS_URL")),
        approvals_signing_key=text("approvals_signing_key", os.environ.get("LINEAGE_APPROVALS_SIGNING_KEY")),
        catalog=text("catalog", "live"),
        approval_poll_interval=interval,
        notify_conn_id=text("notify_conn_id"),
        comment=flag("comment", True),
        events=flag("events", True),
        events_file=text("events_file", os.environ.get("LINEAGE_EVENTS_FILE")),
        events_spool=text("events_spool", os.environ.get("LINEAGE_EVENTS_SPOOL")),
        events_transport=_json_object(text("events_transport"), "events_transport"),
    )


def _json_object(value: str | None, key: str) -> str | None:
    if value is None:
        return None
    import json

    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise SettingsError(f"[{SECTION}] {key}: not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(parsed, dict) or "type" not in parsed:
        raise SettingsError(f"[{SECTION}] {key}: an openlineage-python transport, such as {{\"type\": \"http\", \"url\": \"http://marquez:5000\"}}")
    return value
