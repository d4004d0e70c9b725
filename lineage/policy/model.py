"""The policy file's shape, as pydantic models.

Unknown keys are errors (a typo in a security policy must not silently do nothing).
``lineage policy schema`` prints the JSON Schema generated from these models.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lineage.policy.durations import parse_duration
from lineage.decide.limits import DEFAULT_MAX_CHECK_SECONDS, DEFAULT_MAX_SQL_BYTES
from lineage.mask.strategies import KEYED, STRATEGIES, STRATEGY_NAMES
from lineage.model import Action
from lineage.decide.names import check_table_glob, check_tag_glob
from lineage.decide.rule_catalog import RULE_SPECS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Classification(Strict):
    """Tags for the columns of the tables a glob selects."""

    table: str = Field(description="[database.]schema.table; globs such as crm.* allowed")
    columns: dict[str, str | list[str]] = Field(description="column -> tag or list of tags, e.g. email: pii.email")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        return check_table_glob(value)

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for column, tags in value.items():
            if not column or column.strip() != column:
                raise ValueError(f"{column!r} is not a column name")
            for tag in [tags] if isinstance(tags, str) else tags:
                check_tag_glob(tag)
        return value

    def tags_of(self, column: str) -> tuple[str, ...]:
        for name, tags in self.columns.items():
            if name.lower() == column.lower():
                return (tags,) if isinstance(tags, str) else tuple(tags)
        return ()


class MaskingRule(Strict):
    tags: list[str] = Field(min_length=1, description="tag globs this rule masks, e.g. pii.email or confidential.*")
    strategy: str = Field(description="one of: " + ", ".join(STRATEGY_NAMES))
    args: dict[str, Any] = Field(default_factory=dict, description="the strategy's arguments")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [check_tag_glob(tag) for tag in value]

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value not in STRATEGY_NAMES:
            raise ValueError(f"unknown masking strategy {value!r} (known: {', '.join(STRATEGY_NAMES)})")
        return value

    @model_validator(mode="after")
    def _args(self) -> "MaskingRule":
        from lineage.mask.arguments import check_args

        check_args(self.strategy, self.args)
        return self


class IdentityMatch(Strict):
    """Selects identities by principal (glob) or group."""

    principal: str | None = None
    group: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "IdentityMatch":
        if (self.principal is None) == (self.group is None):
            raise ValueError("give exactly one of principal or group")
        return self

    def matches(self, principal: str, groups: tuple[str, ...]) -> bool:
        from lineage.identity.canonical import in_groups, principal_matches

        if self.principal is not None:
            return principal_matches(self.principal, principal)
        return in_groups(self.group, groups)


class Exemption(IdentityMatch):
    tags: list[str] | None = Field(default=None, description="only these tag globs; all tags when omitted")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [check_tag_glob(tag) for tag in value]


class KeySource(Strict):
    """Where the key of the keyed ``hash`` and ``pseudonym`` strategies comes from: never the policy text."""

    env: str | None = Field(default=None, description="name of an environment variable holding the key")
    file: str | None = Field(default=None, description="path of a file holding the key (relative to the policy)")
    database: str | None = Field(
        default=None,
        description="PostgreSQL: the schema where `lineage masking install` put the key and its SECURITY DEFINER "
        "function; the SQL then calls the function and carries no key material",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "KeySource":
        if sum(value is not None for value in (self.env, self.file, self.database)) != 1:
            raise ValueError("give exactly one of env, file or database")
        return self

    @field_validator("database")
    @classmethod
    def _schema(cls, value: str | None) -> str | None:
        if value is not None and not (value and value[0].isalpha() and all(c.islower() or c.isdigit() or c == "_" for c in value)):
            raise ValueError(f"{value!r}: a schema name of lowercase letters, digits and _")
        return value


class Masking(Strict):
    rules: list[MaskingRule] = Field(default_factory=list)
    unmasked_for: list[Exemption] = Field(default_factory=list)
    default_strategy: str = Field(
        default="nullify", description="for classified columns that no rule's tags select (fail closed)"
    )
    hash_key: KeySource | None = None
    verify_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="tag glob -> regex of what a RAW value looks like, for `lineage verify-masking` (POSIX-compatible)",
    )

    @field_validator("verify_patterns")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for tag, pattern in value.items():
            check_tag_glob(tag)
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern for {tag!r} is not a regex: {error}") from None
        return value

    @field_validator("default_strategy")
    @classmethod
    def _default(cls, value: str) -> str:
        if value not in STRATEGY_NAMES:
            raise ValueError(f"unknown masking strategy {value!r} (known: {', '.join(STRATEGY_NAMES)})")
        strategy = STRATEGIES[value]
        if strategy.keyed or any(required for _, required in strategy.arguments.values()):
            plain = ", ".join(name for name, s in STRATEGIES.items() if not s.keyed and not any(r for _, r in s.arguments.values()))
            raise ValueError(f"default_strategy takes no arguments, so it must be one of {plain}; got {value!r}")
        return value

    @model_validator(mode="after")
    def _keyed_need_a_key(self) -> "Masking":
        keyed = [rule.strategy for rule in self.rules if rule.strategy in KEYED]
        if keyed and self.hash_key is None:
            raise ValueError(f"strategy {keyed[0]} needs masking.hash_key ({{env: VAR}}, {{file: path}} or {{database: schema}}); the key never goes in the policy")
        return self


class Allowlist(Strict):
    """What the policy knows to be safe beyond the built-in lists (lineage/decide/allowlist/builtins.yaml)."""

    functions: list[str] = Field(
        default_factory=list,
        description="functions that compute a value from their arguments only (never read tables, files or "
        "statement texts), by the name the database resolves: lower case unless created quoted, schema.name when "
        "called qualified, e.g. crm.normalize_phone; others are opaque, and refused for identities that read "
        "classified data masked",
    )
    relations: list[str] = Field(
        default_factory=list,
        description="system relations (pg_catalog.*, information_schema.*; globs allowed) an identity that reads "
        "classified data masked may read besides the built-in list, e.g. pg_catalog.pg_stat_user_tables",
    )

    files: list[str] = Field(
        default_factory=list,
        description="files the database may read for COPY ... FROM '<file>' (and DuckDB's FROM 'data.csv'), as "
        "globs of the path the statement names, e.g. /data/incoming/*.csv; others are refused (file_read), and "
        "the masking key file always is",
    )

    @field_validator("files")
    @classmethod
    def _files(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path or path.strip() != path:
                raise ValueError(f"{path!r} is not a file path or glob (write /data/incoming/*.csv)")
        return value

    @field_validator("functions", "relations")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or name.strip() != name or name.endswith("()"):
                raise ValueError(f"{name!r} is not a name (write crm.normalize_phone, without parentheses)")
        return value


class Guardrail(Strict):
    rule: str
    action: Action
    environments: list[str] | None = Field(default=None, description="only in these environments")
    tables: list[str] | None = Field(default=None, description="only for objects these table globs select")

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        rules = RULE_SPECS
        if value not in rules:
            raise ValueError(f"unknown rule {value!r} (known: {', '.join(sorted(rules))})")
        return value

    @model_validator(mode="after")
    def _not_lowered(self) -> "Guardrail":
        rule = RULE_SPECS[self.rule]
        if rule.floor is not None and self.action.rank < rule.floor.rank:
            raise ValueError(f"{self.rule} cannot be lowered below {rule.floor.value} ({rule.summary})")
        return self

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [check_table_glob(glob) for glob in value]


class Zone(Strict):
    tags: list[str] = Field(min_length=1)
    allowed: list[str] = Field(description="table globs where raw values with these tags may be written")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [check_tag_glob(tag) for tag in value]

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        return [check_table_glob(glob) for glob in value]


class Limits(Strict):
    """How much SQL one check reads and how long it may take (``lineage.decide.limits``); over either, refused."""

    max_sql_bytes: int = Field(default=DEFAULT_MAX_SQL_BYTES, gt=0, description="SQL text handed to one check (a file, a task's SQL, a dbt model), in bytes")
    max_check_seconds: float = Field(default=DEFAULT_MAX_CHECK_SECONDS, gt=0, description="parse, analysis, rules and masking of that text, in seconds")


class Notify(Strict):
    slack_webhook_env: str | None = Field(default=None, description="env var holding a Slack incoming-webhook URL")
    webhook_url_env: str | None = Field(default=None, description="env var holding a generic webhook URL")
    airflow_conn_id: str | None = Field(default=None, description="Airflow connection whose host/password is the URL")


def _public_key(value: str) -> str:
    from lineage.approve.keys import ApprovalKeyError, parse_public

    try:
        parse_public(value)
    except ApprovalKeyError as error:
        raise ValueError(str(error)) from None
    return value


class ApproverKey(Strict):
    """An approver's Ed25519 public key: approvals signed with its private key are that principal's."""

    principal: str = Field(description="the approver, e.g. olga@corp (a name, not a glob)")
    public_key: str = Field(description="the 'ssh-ed25519 AAAA...' line `lineage approvals keygen` prints")

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _public_key(value)

    @field_validator("principal")
    @classmethod
    def _principal(cls, value: str) -> str:
        from lineage.identity.canonical import unplain_reason

        reason = unplain_reason(value)
        if reason or any(char in value for char in "*?["):
            raise ValueError(f"{value!r} is not an approver's name" + (f": it {reason}" if reason else " (no globs here)"))
        return value


class ServerKey(Strict):
    """A server (the Airflow UI) whose signed approvals the workers trust for its logged-in users."""

    name: str = Field(description="a name for the server, e.g. airflow-ui")
    public_key: str = Field(description="the 'ssh-ed25519 AAAA...' line of the key in [lineage_governance] approvals_signing_key")

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _public_key(value)


class ApprovalsPolicy(Strict):
    """The policy's ``approvals`` section: who approves held statements, for how long, how they are told."""

    approvers: list[IdentityMatch] = Field(default_factory=list)
    ttl: timedelta = Field(default=timedelta(hours=1), description="how long a request (and an approval) lives: 1h, 15m, 2d")
    scope: Literal["run", "job"] = Field(default="run", description="run: an approval covers the run that asked; job: any run of that job (same environment and principal) until it expires")
    keys: list[ApproverKey] = Field(default_factory=list, description="approvers' public keys; an approval counts only when signed by one of these or a server key")
    server_keys: list[ServerKey] = Field(default_factory=list, description="public keys of servers (the Airflow UI) that sign approvals for their logged-in users")
    notify: Notify | None = None

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)


PRINCIPAL_FIELDS = ("triggering_user", "owner", "dag_id", "task_id", "job", "run_type", "environment")


def template_fields(template: str) -> tuple[str, ...]:
    """The ``{field}`` names of a principal template (``svc:{dag_id}`` -> ``("dag_id",)``)."""
    import string

    try:
        return tuple(field for _, field, _, _ in string.Formatter().parse(template) if field is not None)
    except ValueError as error:
        raise ValueError(f"{template!r} is not a principal template: {error}") from None


class PrincipalRule(Strict):
    """Who is accountable for a pipeline run, e.g. manual runs -> the user who triggered them."""

    principal: str = Field(description="a name or a template over " + ", ".join("{" + f + "}" for f in PRINCIPAL_FIELDS) + ": {triggering_user}, svc:etl, svc:{dag_id}")
    run_types: list[str] | None = Field(default=None, description="only for these run types: manual, scheduled, backfill, asset_triggered, ...")
    jobs: list[str] | None = Field(default=None, description="only for jobs (Airflow DAG ids) these globs select")

    @field_validator("principal")
    @classmethod
    def _principal(cls, value: str) -> str:
        fields = template_fields(value)
        unknown = [field for field in fields if field not in PRINCIPAL_FIELDS]
        if unknown or not value.strip():
            raise ValueError(f"unknown field {{{unknown[0] if unknown else ''}}} in {value!r} (known: {', '.join(PRINCIPAL_FIELDS)})")
        return value


class GroupMembership(Strict):
    """Groups a principal (glob) belongs to, for masking exemptions and approvers."""

    principal: str = Field(description="principal glob, e.g. svc:etl or *@corp")
    groups: list[str] = Field(min_length=1)


class Identity(Strict):
    principals: list[PrincipalRule] = Field(
        default_factory=list,
        description="tried in order; the first whose conditions match and whose fields are all known names the principal "
        "(default: manual runs -> {triggering_user}, others -> {owner})",
    )
    groups: list[GroupMembership] = Field(default_factory=list)


class Jit(Strict):
    """Just-in-time PostgreSQL roles per run: granted what the run's statements need, dropped after."""

    enabled: bool = False
    ttl: timedelta = Field(default=timedelta(minutes=15), description="VALID UNTIL of the role: 15m, 1h")
    environments: list[str] | None = Field(default=None, description="only in these environments (default: all)")
    admin_dsn_env: str = Field(default="LINEAGE_JIT_ADMIN_DSN", description="env var holding the admin DSN that creates roles (never runs pipeline SQL)")
    role_prefix: str = Field(default="lg_", description="prefix of the roles' names (lowercase letters, digits, _)")
    owner_role: str | None = Field(default=None, description="the dedicated NOLOGIN role that takes over what a run created (required: JIT refuses to run without it)")

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    @field_validator("role_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or len(value) > 16 or not all(c.islower() or c.isdigit() or c == "_" for c in value) or value[0].isdigit():
            raise ValueError(f"{value!r}: use up to 16 lowercase letters, digits or _ (not starting with a digit)")
        return value

    def applies_to(self, environment: str) -> bool:
        return self.enabled and (self.environments is None or environment in self.environments)


class SessionSettings(Strict):
    """Settings a session may change besides the built-in harmless list (``lineage.decide.analysis.settings_allowlist``)."""

    allowed: list[str] = Field(
        default_factory=list,
        description="setting names or globs (work_mem, myext.*) any value of which is harmless; role, safety and lexing "
        "settings are judged by privilege_change, disable_safety and lexing_setting and cannot be listed",
    )

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        from lineage.decide.analysis.settings_allowlist import family

        owners = {"role": "privilege_change", "safety": "disable_safety", "lexing": "lexing_setting"}
        for pattern in value:
            name = pattern.strip().lower()
            if not name or name != pattern.lower():
                raise ValueError(f"{pattern!r} is not a setting name")
            kinds = {family(dialect, name) for dialect in ("postgres", "duckdb")}
            owned = sorted(owners[kind] for kind in kinds if kind in owners)
            if owned:
                raise ValueError(f"{pattern} is judged by the {owned[0]} rule (set its action under guardrails), not by session_settings")
        return [pattern.lower() for pattern in value]


class Policy(Strict):
    version: Literal[1] = 1
    mode: Literal["enforce", "audit"] = "enforce"
    limits: Limits = Field(default_factory=Limits)
    classifications: list[Classification] = Field(default_factory=list)
    masking: Masking = Field(default_factory=Masking)
    guardrails: list[Guardrail] = Field(default_factory=list)
    session_settings: SessionSettings = Field(default_factory=SessionSettings)
    zones: list[Zone] = Field(default_factory=list)
    approvals: ApprovalsPolicy = Field(default_factory=ApprovalsPolicy)
    identity: Identity = Field(default_factory=Identity)
    jit: Jit = Field(default_factory=Jit)
    allowlist: Allowlist = Field(default_factory=Allowlist)

    @model_validator(mode="after")
    def _key_functions_stay_closed(self) -> "Policy":
        source = self.masking.hash_key
        if source is not None and source.database is not None:
            prefix = f"{source.database}."
            opened = [name for name in self.allowlist.functions if name.lower().startswith(prefix)]
            if opened:
                raise ValueError(f"allowlist.functions: {opened[0]} would let a masked identity compute masks of values of its choice (the key's functions stay closed)")
        return self
