"""The lineage_governance dbt macros against the core, on real PostgreSQL and DuckDB.

- ``mask()`` gives the same values as lineage/mask/strategies for every strategy (keyed ones
  with the derived key the core uses), each column type the strategy accepts;
- ``identity_comment(node)`` is exactly lineage.identity.comment's for the same identity;
- ``guard_schema_change()`` refuses a dropped column a downstream model uses, naming it, and
  lets an approved change through (plain dbt, without the runner).

One dbt run per database; the table of values is written directly, the masked copy by dbt.
"""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path

import pytest
from sqlglot import exp

from lineage.identity.comment import identity_comment, parse_comment
from lineage.adapters.dbt.identity import dbt_identity
from lineage.mask.keys import derive_key
from lineage.mask.strategies import KEYED, mask_expression
from lineage.mask.strategies._keyed import padded_keys
from dbt_helpers import clean_env, link_package, run_dbt

pytestmark = [pytest.mark.dbt]

MASTER = b"the-master-key-of-the-macro-tests-0123456789"
TYPES = {
    "t": "text", "v": "varchar(40)", "i": "integer", "s": "smallint", "d": "date", "ts": "timestamp", "n": "numeric(12,2)", "b": "boolean",
}
ROWS = [
    (1, "alice.smith@example.com", "Lisbon", 42, 7, datetime.date(1987, 6, 15), datetime.datetime(2024, 3, 5, 10, 11, 12), decimal.Decimal("85000.00"), True),
    (2, None, None, None, None, None, None, None, None),
    (3, "bob@x", "", 0, -3, datetime.date(2000, 2, 29), datetime.datetime(1999, 12, 31, 23, 59, 59), decimal.Decimal("0.01"), False),
    (4, "no-at-sign", "Ann-Marie 42", -17, 32767, datetime.date(1900, 1, 1), datetime.datetime(2020, 1, 1), decimal.Decimal("-5.50"), True),
    (5, "ünïcode ß@dömain.de", "A", 2147483647, 1, datetime.date(2024, 12, 31), datetime.datetime(2024, 12, 31, 23, 0, 1), decimal.Decimal("123.45"), False),
    (6, "123-45-6789", "ab", 1, 2, datetime.date(1970, 1, 1), datetime.datetime(1970, 1, 1, 0, 0, 1), decimal.Decimal("1.00"), True),
    (7, "a@b@c.com", "xyz O'Brien", -2147483648, -32768, datetime.date(1999, 9, 9), datetime.datetime(2001, 2, 3, 4, 5, 6), decimal.Decimal("99999.99"), False),
]
CASES = [  # strategy, args, column, tag
    ("nullify", {}, "t", None), ("nullify", {}, "n", None),
    ("type_default", {}, "t", None), ("type_default", {}, "i", None), ("type_default", {}, "d", None),
    ("type_default", {}, "ts", None), ("type_default", {}, "n", None), ("type_default", {}, "b", None),
    ("constant", {"value": "REDACTED"}, "v", None), ("constant", {"value": 0}, "i", None), ("constant", {"value": True}, "b", None),
    ("constant", {"value": "O'Brien"}, "t", None),
    ("redact", {}, "t", None), ("redact", {}, "v", None), ("redact", {}, "i", None),
    ("show_first", {"chars": 2}, "t", None), ("show_last", {"chars": 4}, "t", None), ("show_last", {"chars": 4}, "i", None),
    ("partial", {"prefix": 2, "suffix": 2}, "t", None), ("partial", {"prefix": 1, "suffix": 1, "pad": "#"}, "v", None),
    ("email", {}, "t", None), ("email", {"mask_domain": True}, "t", None),
    ("hash", {"length": 16}, "t", "pii.email"), ("hash", {}, "i", "pii.number"),
    ("date_trunc", {"part": "year"}, "d", None), ("date_trunc", {"part": "month"}, "ts", None),
    ("pseudonym", {"prefix": "user_"}, "t", "pii.login"), ("pseudonym", {}, "i", "pii.customer"), ("pseudonym", {}, "s", "pii.customer"),
    ("custom", {"expression": "left(value, 1) || '.'"}, "t", None),
    ("deny", {}, "t", None),
]
PROJECT = """
name: mask_check
version: "1.0"
config-version: 2
profile: mask_check
query-comment:
  comment: "{{ lineage_governance.identity_comment(node) }}"
  append: true
models:
  mask_check:
    +materialized: table
"""
PROFILES = """
mask_check:
  target: duckdb
  outputs:
    duckdb: {type: duckdb, path: "%(duckdb)s", threads: 1}
    postgres: {type: postgres, host: 127.0.0.1, port: %(port)s, user: postgres, password: "", dbname: mask_check, schema: public, threads: 1}
"""


def _jinja(value) -> str:
    return json.dumps(value) if not isinstance(value, bool) else ("true" if value else "false")


def model_sql() -> str:
    columns = ["id"]
    for number, (strategy, args, column, tag) in enumerate(CASES):
        parts = [f"'{column}'", f"'{strategy}'", f"data_type='{TYPES[column]}'"]
        if tag:
            parts.append(f"tag='{tag}'")
        parts += [f"{name}={_jinja(value)}" for name, value in args.items()]
        columns.append(f"{{{{ lineage_governance.mask({', '.join(parts)}) }}}} as m{number}")
    return "select\n    " + ",\n    ".join(columns) + "\nfrom {{ source('values', 'mask_values') }}"


def plan(dialect: str) -> str:
    keys = {f"{s}|{tag}": list(padded_keys(derive_key(MASTER, s, tag))) for s, _, _, tag in CASES if s in KEYED}
    custom = {args["expression"]: mask_expression("custom", exp.column("__lineage_value__"), None, dialect, args).sql(dialect)
              for s, args, _, _ in CASES if s == "custom"}
    return json.dumps({"mode": "run", "relations": {}, "keys": keys, "custom": custom, "approved": {}, "usage": {}})


def core_sql(dialect: str, table: str) -> str:
    columns = ["id"]
    for number, (strategy, args, column, tag) in enumerate(CASES):
        dtype = exp.DataType.build(TYPES[column], dialect=dialect)
        key = derive_key(MASTER, strategy, tag) if strategy in KEYED else None
        columns.append(f"{mask_expression(strategy, exp.column(column), dtype, dialect, args, key).sql(dialect)} AS m{number}")
    return f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"


def make_project(root: Path, duckdb_path: Path, port: int) -> Path:
    project = root / "mask_check"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT)
    (project / "profiles.yml").write_text(PROFILES % {"duckdb": duckdb_path, "port": port})
    (project / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: values\n    schema: \"{{ target.schema }}\"\n    tables: [{name: mask_values}]\n"
    )
    (project / "models" / "masked.sql").write_text(model_sql())
    link_package(project)
    return project


CREATE = "CREATE TABLE mask_values (id INTEGER, t TEXT, v VARCHAR(40), i INTEGER, s SMALLINT, d DATE, ts TIMESTAMP, n NUMERIC(12,2), b BOOLEAN)"


class Run:
    def __init__(self, result, events, env):
        self.result, self.events, self.env = result, events, env


def dbt_run(project: Path, target: str, env: dict[str, str]) -> Run:
    events = []

    def keep(msg):
        if msg.info.name == "SQLQuery":
            events.append((msg.info.invocation_id, msg.data.node_info.unique_id, msg.data.sql))

    result = run_dbt(["run", "--project-dir", str(project), "--profiles-dir", str(project), "--target", target], env, [keep])
    assert result.success, result.exception
    return Run(result, events, env)


@pytest.fixture(scope="module")
def mask_project(tmp_path_factory, postgres):
    import psycopg

    root = tmp_path_factory.mktemp("macros")
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS mask_check")
        connection.execute("CREATE DATABASE mask_check")
    return make_project(root, root / "mask_check.duckdb", postgres.port), root


@pytest.fixture(scope="module")
def duckdb_run(mask_project):
    import duckdb

    project, root = mask_project
    with duckdb.connect(str(root / "mask_check.duckdb")) as connection:
        connection.execute(CREATE)
        connection.executemany("INSERT INTO mask_values VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    # the minimal environment: no LINEAGE_* at all (plain dbt), the comment's defaults apply
    env = clean_env(LINEAGE_DBT_PLAN=plan("duckdb"), USER="dbt-tester")
    return dbt_run(project, "duckdb", env)


@pytest.fixture(scope="module")
def postgres_run(mask_project, postgres):
    import psycopg

    project, _ = mask_project
    with psycopg.connect(postgres.dsn_for("mask_check"), autocommit=True) as connection:
        connection.execute(CREATE)
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO mask_values VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", ROWS)
    env = clean_env(
        LINEAGE_DBT_PLAN=plan("postgres"),
        LINEAGE_RUN_ID="01a22000-0000-7000-8000-0000000000aa",
        LINEAGE_PRINCIPAL="svc:dbt/é x,y'z",
        LINEAGE_ACTOR="agent:report-bot",
        LINEAGE_POLICY_VERSION="sha256:0123abcd",
        OPENLINEAGE_PARENT_ID="airflow/shop_dag.dbt_build/01a22000-0000-7000-8000-0000000000bb",
        AIRFLOW_CTX_DAG_ID="shop_dag", AIRFLOW_CTX_TASK_ID="dbt_build", AIRFLOW_CTX_TRY_NUMBER="2",
    )
    return dbt_run(project, "postgres", env)


def rows_of(connection_rows) -> list[tuple]:
    return [tuple(row) for row in connection_rows]


def assert_same(core_rows, dbt_rows):
    assert len(core_rows) == len(ROWS) == len(dbt_rows)
    for core_row, dbt_row in zip(core_rows, dbt_rows):
        for number, (core_value, dbt_value) in enumerate(zip(core_row, dbt_row)):
            case = CASES[number - 1] if number else "id"
            assert dbt_value == core_value, f"row {core_row[0]}, {case}: dbt {dbt_value!r} != core {core_value!r}"


def test_mask_macro_equals_the_core_on_duckdb(duckdb_run, mask_project):
    import duckdb

    _, root = mask_project
    with duckdb.connect(str(root / "mask_check.duckdb"), read_only=True) as connection:
        core = rows_of(connection.execute(core_sql("duckdb", "mask_values")).fetchall())
        made = rows_of(connection.execute("SELECT * FROM masked ORDER BY id").fetchall())
    assert_same(core, made)
    assert made[0][1 + [c[0] for c in CASES].index("email")] == "*****@example.com"  # and masks really happened


def test_mask_macro_equals_the_core_on_postgres(postgres_run, postgres):
    import psycopg

    with psycopg.connect(postgres.dsn_for("mask_check")) as connection:
        core = rows_of(connection.execute(core_sql("postgres", "mask_values")).fetchall())
        made = rows_of(connection.execute("SELECT * FROM masked ORDER BY id").fetchall())
    assert_same(core, made)


def test_keyed_masks_in_the_compiled_sql_carry_derived_pads_never_the_master_key(postgres_run, mask_project):
    project, _ = mask_project
    compiled = next((project / "target" / "run").rglob("masked.sql")).read_text()
    pads = padded_keys(derive_key(MASTER, "hash", "pii.email"))
    assert pads[0] in compiled and pads[1] in compiled
    assert MASTER.decode() not in compiled and MASTER.hex() not in compiled
    logs = (project / "logs" / "dbt.log").read_text()
    assert MASTER.decode() not in logs and MASTER.hex() not in logs


def expected_comment(run: Run, invocation_id: str, node_id: str | None) -> str:
    env = {key: value for key, value in run.env.items() if value is not None}
    identity = dbt_identity("mask_check", None, env=env, run_id=env.get("LINEAGE_RUN_ID") or invocation_id,
                            invocation_id=invocation_id, node_id=node_id or None)
    return identity_comment(identity, env.get("LINEAGE_POLICY_VERSION"))


@pytest.mark.parametrize("which", ["duckdb_run", "postgres_run"])
def test_identity_comment_is_exactly_the_cores(which, request):
    run = request.getfixturevalue(which)
    # dbt sends BEGIN and COMMIT itself, outside its query-comment path: only they go without
    commented = [event for event in run.events if event[2].strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert len(commented) >= 3
    for invocation_id, node_id, sql in commented:
        body = sql[sql.rindex("/*") + 2:sql.rindex("*/")].strip()  # dbt appends `\n/* body */`
        assert f"/*{body}*/" == expected_comment(run, invocation_id, node_id), sql
    fields = parse_comment(commented[-1][2])
    if which == "postgres_run":
        assert fields["principal"] == "svc:dbt/é x,y'z" and fields["parent_run_id"] == "01a22000-0000-7000-8000-0000000000bb"
        assert fields["job"] == "airflow/shop_dag.dbt_build.dbt.mask_check" and fields["actor"] == "agent:report-bot"
        assert fields["dag_id"] == "shop_dag" and fields["try_number"] == "2" and fields["lg_policy"] == "sha256:0123abcd"
    else:
        assert fields["principal"] == "os:dbt-tester" and fields["run_id"] == fields["invocation_id"]
    assert any(node == "model.mask_check.masked" for _, node, _ in run.events)


GUARD_MODELS = {
    "upstream.sql": "{{ config(pre_hook=\"{{ lineage_governance.guard_schema_change() }}\") }}\nselect 1 as id, 'Lisbon' as city, 'x' as zip",
    "downstream.sql": "select id, city from {{ ref('upstream') }}",
}


def test_guard_schema_change_blocks_a_used_dropped_column_and_lets_an_approved_one_through(tmp_path):
    project = tmp_path / "guard"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: guard\nversion: '1.0'\nconfig-version: 2\nprofile: guard\nmodels: {guard: {+materialized: table}}\n")
    (project / "profiles.yml").write_text(f"guard:\n  target: duckdb\n  outputs:\n    duckdb: {{type: duckdb, path: '{tmp_path / 'guard.duckdb'}', threads: 1}}\n")
    (project / "models" / "exposures.yml").write_text(
        "version: 2\nexposures:\n  - name: city_dashboard\n    type: dashboard\n    owner: {email: a@example.com}\n    depends_on: [ref('downstream')]\n"
    )
    for name, sql in GUARD_MODELS.items():
        (project / "models" / name).write_text(sql)
    link_package(project)
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    env = clean_env()
    assert run_dbt(args, env).success
    (project / "models" / "upstream.sql").write_text(GUARD_MODELS["upstream.sql"].replace(", 'Lisbon' as city", ""))
    refused = run_dbt(args + ["--select", "upstream"], env)
    assert not refused.success
    message = " ".join(str(result.message) for result in refused.result.results)
    assert "model.guard.upstream would drop column city" in message
    assert "model.guard.downstream" in message and "exposure.guard.city_dashboard" in message
    approved = run_dbt(args + ["--select", "upstream", "--vars", "{lineage_approved_schema_changes: [upstream.city]}"], env)
    assert approved.success
    import duckdb

    with duckdb.connect(str(tmp_path / "guard.duckdb"), read_only=True) as connection:
        columns = [row[0] for row in connection.execute("select column_name from information_schema.columns where table_name = 'upstream' order by ordinal_position").fetchall()]
    assert columns == ["id", "zip"]
