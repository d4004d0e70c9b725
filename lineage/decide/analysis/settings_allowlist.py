"""Which settings a statement may change, per dialect, as data: an allowlist, not a denylist.

    SET work_mem = '256MB'                 -> harmless: no finding
    SET row_security = of                  -> family "safety" (disable_safety): only true spellings are harmless
    SELECT set_config('role', 'admin', f)  -> family "role" (privilege_change), whatever the value
    SET standard_conforming_strings = off  -> family "lexing" (lexing_setting, cannot be allowed)
    SET jit_provider = 'x'                 -> family "other" (session_setting): not listed, so refused

A setting is harmless only when it is listed in ``HARMLESS`` for the dialect and its value passes
the entry's check (``None``: any value). Everything else is a finding of its family's rule:
``role`` and ``session_authorization`` change who runs the SQL; the safety settings switch off
row-level security, triggers or the statement log ``lineage correlate`` reads (and
``application_name``, which attributes sessions to runs); the lexing settings change how the
server reads SQL text, so the analysis would split and read statements differently from the
server. A setting the analysis cannot name (a computed ``set_config`` argument, an unknown
connection switch) counts as a lexing setting: it may be one.

Values are checked the way PostgreSQL reads them: booleans by ``parse_bool`` (``of`` is off,
``t`` is true), enums case-insensitively, encodings after dropping punctuation.
"""

from __future__ import annotations

from typing import Callable

from lineage.model import SettingChange

ValueCheck = Callable[[SettingChange], bool] | None


def parse_bool(text: str) -> bool | None:
    """PostgreSQL's ``parse_bool``: any unique prefix of true/false/yes/no, on/off, 1/0; else None.

    >>> [parse_bool(v) for v in ("of", "T", "ye", "0", "o", "off ")]
    [False, True, True, False, None, None]
    """
    lowered = text.lower()
    if not lowered:
        return None
    head = lowered[0]
    if head in "tfyn":
        word = {"t": "true", "f": "false", "y": "yes", "n": "no"}[head]
        return head in "ty" if word.startswith(lowered) else None
    if head == "o" and len(lowered) >= 2:
        if "on".startswith(lowered):
            return True
        if "off".startswith(lowered):
            return False
        return None
    if lowered in ("1", "0"):
        return lowered == "1"
    return None


def _one_value(change: SettingChange) -> str | None:
    return change.values[0] if change.known and change.values is not None and len(change.values) == 1 else None


def _resets(change: SettingChange) -> bool:
    return change.known and change.values is None


def true_only(change: SettingChange) -> bool:
    """Harmless when switched on (or back to its default), never when switched off."""
    value = _one_value(change)
    return _resets(change) or (value is not None and parse_bool(value) is True)


def one_of(*allowed: str) -> Callable[[SettingChange], bool]:
    def check(change: SettingChange) -> bool:
        value = _one_value(change)
        return _resets(change) or (value is not None and value.lower() in allowed)

    return check


def utf8(change: SettingChange) -> bool:
    """``UTF8``, ``utf-8``, ``Unicode``: PostgreSQL drops non-alphanumerics and lowercases encoding names."""
    value = _one_value(change)
    return _resets(change) or (value is not None and "".join(c for c in value.lower() if c.isalnum()) in ("utf8", "unicode"))


def never(change: SettingChange) -> bool:
    return False


def search_path_keeps_builtins_first(change: SettingChange) -> bool:
    """A search path that names ``pg_catalog`` after another schema lets that schema's functions
    and operators stand in for the built-in ones the analysis reasons about."""
    if _resets(change):
        return True
    if not change.known or change.values is None:
        return False
    schemas = [schema for value in change.values for schema in split_identifier_list(value)]
    return "pg_catalog" not in schemas[1:]


def split_identifier_list(text: str) -> list[str]:
    """PostgreSQL's ``SplitIdentifierString`` for list settings: ``crm, "Public"`` -> ``['crm', 'Public']``."""
    names: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"' and text[index + 1 : index + 2] == '"':
                current.append('"')
                index += 1
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted = True
            current.append("\0")  # marks the name as quoted: not lowercased below
        elif char == ",":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    names.append("".join(current))
    out = []
    for name in names:
        name = name.strip()
        out.append(name.replace("\0", "") if "\0" in name else name.lower())
    return out


# Settings any session may change, and the check their value must pass (None: any value).
HARMLESS: dict[str, dict[str, ValueCheck]] = {
    "postgres": {
        # time limits and resources
        "statement_timeout": None, "lock_timeout": None, "idle_in_transaction_session_timeout": None,
        "idle_session_timeout": None, "work_mem": None, "maintenance_work_mem": None, "temp_buffers": None,
        "hash_mem_multiplier": None, "temp_file_limit": None, "effective_cache_size": None,
        "effective_io_concurrency": None, "maintenance_io_concurrency": None,
        # the planner
        "random_page_cost": None, "seq_page_cost": None, "cpu_tuple_cost": None, "cpu_index_tuple_cost": None,
        "cpu_operator_cost": None, "parallel_setup_cost": None, "parallel_tuple_cost": None,
        "min_parallel_table_scan_size": None, "min_parallel_index_scan_size": None,
        "max_parallel_workers_per_gather": None, "max_parallel_maintenance_workers": None,
        "parallel_leader_participation": None, "jit": None, "jit_above_cost": None, "jit_inline_above_cost": None,
        "jit_optimize_above_cost": None, "from_collapse_limit": None, "join_collapse_limit": None, "geqo": None,
        "geqo_threshold": None, "geqo_effort": None, "geqo_pool_size": None, "geqo_generations": None,
        "geqo_selection_bias": None, "geqo_seed": None, "default_statistics_target": None,
        "constraint_exclusion": None, "cursor_tuple_fraction": None, "plan_cache_mode": None,
        "enable_async_append": None, "enable_bitmapscan": None, "enable_gathermerge": None, "enable_hashagg": None,
        "enable_hashjoin": None, "enable_incremental_sort": None, "enable_indexonlyscan": None,
        "enable_indexscan": None, "enable_material": None, "enable_memoize": None, "enable_mergejoin": None,
        "enable_nestloop": None, "enable_parallel_append": None, "enable_parallel_hash": None,
        "enable_partition_pruning": None, "enable_partitionwise_aggregate": None,
        "enable_partitionwise_join": None, "enable_seqscan": None, "enable_sort": None, "enable_tidscan": None,
        # how values are shown and read (not how SQL text is lexed)
        "timezone": None, "datestyle": None, "intervalstyle": None, "extra_float_digits": None,
        "lc_monetary": None, "lc_numeric": None, "lc_time": None, "default_text_search_config": None,
        "bytea_output": None, "xmlbinary": None, "xmloption": None, "client_min_messages": None,
        "array_nulls": None, "quote_all_identifiers": None, "timezone_abbreviations": None,
        # transactions and where new objects go
        "synchronous_commit": None, "default_transaction_isolation": None, "default_transaction_read_only": None,
        "default_transaction_deferrable": None, "transaction_isolation": None, "transaction_read_only": None,
        "transaction_deferrable": None, "transaction": None, "constraints": None, "seed": None,
        "temp_tablespaces": None, "default_tablespace": None, "default_table_access_method": None,
        "default_toast_compression": None, "check_function_bodies": None,
        "gin_fuzzy_search_limit": None, "gin_pending_list_limit": None,
        "vacuum_cost_delay": None, "vacuum_cost_limit": None, "vacuum_cost_page_hit": None,
        "vacuum_cost_page_miss": None, "vacuum_cost_page_dirty": None, "vacuum_freeze_min_age": None,
        "vacuum_freeze_table_age": None, "vacuum_multixact_freeze_min_age": None,
        "vacuum_multixact_freeze_table_age": None, "vacuum_failsafe_age": None, "vacuum_multixact_failsafe_age": None,
        # name resolution: understood, as long as the built-ins come first
        "search_path": search_path_keeps_builtins_first,
    },
    "duckdb": {
        "threads": None, "worker_threads": None, "memory_limit": None, "max_memory": None,
        "preserve_insertion_order": None, "default_order": None, "default_null_order": None,
        "enable_progress_bar": None, "enable_progress_bar_print": None, "progress_bar_time": None,
        "timezone": None, "calendar": None, "search_path": None, "schema": None, "errors_as_json": None,
        "enable_object_cache": None, "checkpoint_threshold": None, "wal_autocheckpoint": None,
        "ordered_aggregate_threshold": None, "max_expression_depth": None, "integer_division": None,
        # pragma functions that only read the catalog
        "table_info": None, "show_tables": None, "show_tables_expanded": None, "show": None, "database_list": None,
        "database_size": None, "version": None, "platform": None, "collations": None, "functions": None,
        "user_agent": None, "metadata_info": None, "storage_info": None,
    },
}

ROLE: dict[str, frozenset[str]] = {
    "postgres": frozenset({"role", "session_authorization"}),
}

# safety settings: the value check says which values keep the safety mechanism on
SAFETY: dict[str, dict[str, ValueCheck]] = {
    "postgres": {
        "row_security": true_only,
        "session_replication_role": one_of("origin"),
        "application_name": never,  # lineage sets it to lg:<run>:<principal>; correlate attributes sessions by it
        "event_triggers": true_only,
        "all": never,  # RESET ALL: application_name goes back to what the connection started with
    },
}
# whole families of safety settings: the statement log and what the statistics views show
SAFETY_PREFIXES: dict[str, tuple[str, ...]] = {
    "postgres": ("log_", "logging_", "track_", "pgaudit.", "debug_print_", "debug_pretty_print"),
}

LEXING: dict[str, dict[str, ValueCheck]] = {
    "postgres": {
        "standard_conforming_strings": true_only,
        "backslash_quote": never,
        "escape_string_warning": never,
        "client_encoding": utf8,
    },
}

UNKNOWN = "*"  # the name of a setting the analysis cannot read


def family(dialect: str, name: str) -> str:
    """``role``, ``safety``, ``lexing`` or ``other`` (an unreadable name counts as lexing)."""
    if name == UNKNOWN:
        return "lexing"
    if name in ROLE.get(dialect, ()):
        return "role"
    if name in SAFETY.get(dialect, {}) or name.startswith(SAFETY_PREFIXES.get(dialect, ())):
        return "safety"
    if name in LEXING.get(dialect, {}):
        return "lexing"
    return "other"


def is_harmless(dialect: str, change: SettingChange, allowed: Callable[[str], bool] = lambda name: False) -> bool:
    """Whether ``change`` may run without a finding; ``allowed`` adds names the policy lists
    (``session_settings.allowed``), only ever for the ``other`` family."""
    kind = family(dialect, change.name)
    if kind == "role":
        return False
    if kind in ("safety", "lexing"):
        table = SAFETY if kind == "safety" else LEXING
        check = table.get(dialect, {}).get(change.name, never)
        return check is not None and check(change)
    listed = HARMLESS.get(dialect, {})
    if change.name in listed:
        check = listed[change.name]
        return check is None or check(change)
    return allowed(change.name)
