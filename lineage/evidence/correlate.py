"""Line PostgreSQL's own statement log up with the ledger: who ran what, and what no run explains.

    correlate(read_statements(["pg_log/"]), ledger.entries())
    -> CorrelationReport(runs=[RunSummary(run_id, principal, statements=12, ...)],
                         unattributed=[Unattributed(user="bob", application="psql", sql="SELECT ssn FROM ...", ...)],
                         divergences=[Divergence(run_id, reason="fingerprint differs from every statement ...")])

Every governed statement carries the run-identity comment (``lineage.identity.comment``), and the
ledger holds the fingerprint of the SQL that run executed. For each logged statement:

- **attributed**: its comment names a run the ledger knows and its fingerprint is one the
  ledger recorded (as executed) for that run;
- **divergent**: its comment names a known run, but the ledger has no such executed statement
  for it (the SQL was changed after the decision or approval, a refused statement ran anyway,
  a statement ran more often than recorded, or the comment's principal is not the run's);
- **unattributed**: no comment, or a comment naming a run the ledger does not know: access
  outside any governed pipeline. Reported with user, application, client and time.

Everything else a governed run sends is attributed to it without a comment:

- **transaction control** (BEGIN, COMMIT, ROLLBACK, ...) by its session: a session that carried
  a run's statements, or whose ``application_name`` names the run (``lg:<run id>:...``);
- **catalog lookups** (``lineage.evidence.catalog_lookup``: statements that read only catalog views,
  catalog functions or settings, such as the OpenLineage provider's ``SELECT CURRENT_SCHEMA``
  and ``information_schema.columns`` lookups) by their session, else by time: from the run's
  database user and database, with no other application name, within ``window`` seconds of
  the run's statements in the log (the provider looks tables up again after the task ended,
  on a new session without ``application_name``). Reported per run, labelled as such.

Statements are matched to the ledger by a fingerprint that ignores what a driver's
client-side binding changes (psycopg2 sends ``'2018-01-01'::date`` and ``NULL`` where the
pipeline wrote ``%s``): a typed value, NULL or a boolean is a value on both sides.
Transaction control outside every run is only counted, as is the ledger's own traffic when
the ledger lives in the same server. SQL is only ever reported normalised (literals
replaced), and bind values in the log's detail column are never read.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from lineage.decide.analysis.statements import get_dialect
from lineage.evidence.catalog_lookup import is_catalog_lookup
from lineage.identity.comment import parse_comment
from lineage.evidence.csvlog import LoggedStatement
from lineage.fingerprint import normalize
from lineage.record.chain import Entry

LEDGER_TABLES = {"lineage_ledger", "lineage_ledger_head", "lineage_ledger_schema"}
WINDOW_SECONDS = 60.0  # how far from a run's statements its catalog lookups are looked for


@dataclass
class RunSummary:
    run_id: str
    principal: str | None
    actor: str | None
    job: str | None
    source: str | None
    statements: int = 0  # carrying the run's comment
    divergent: int = 0
    control: int = 0  # transaction control in the run's sessions
    catalog_lookups: int = 0  # catalog-only statements without a comment, by session or time
    catalog_by_time: int = 0  # of those, attributed by time (no session of the run)
    database_users: set[str] = field(default_factory=set)
    applications: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None
    not_in_log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def attributed(self) -> int:
        return self.statements + self.control + self.catalog_lookups

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("database_users", "applications", "clients"):
            out[key] = sorted(out[key])
        out["attributed"] = self.attributed
        return out


@dataclass(frozen=True)
class Unattributed:
    statement: LoggedStatement
    fingerprint: str
    sql: str
    tables: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.statement.to_dict(), "fingerprint": self.fingerprint, "sql": self.sql, "tables": list(self.tables), "reason": self.reason}


@dataclass(frozen=True)
class Divergence:
    statement: LoggedStatement
    run_id: str
    principal: str | None
    fingerprint: str
    sql: str
    reason: str
    recorded: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.statement.to_dict(),
            "run_id": self.run_id,
            "principal": self.principal,
            "fingerprint": self.fingerprint,
            "sql": self.sql,
            "reason": self.reason,
            "recorded_fingerprints": list(self.recorded),
        }


@dataclass
class CorrelationReport:
    runs: list[RunSummary]
    unattributed: list[Unattributed]
    divergences: list[Divergence]
    logged: int = 0
    attributed: int = 0  # statements, transaction control and catalog lookups of governed runs
    control: int = 0  # all transaction control (attributed or not)
    control_outside_runs: int = 0
    catalog_lookups: int = 0  # attributed catalog lookups
    ledger_traffic: int = 0
    first: str | None = None
    last: str | None = None

    @property
    def clean(self) -> bool:
        return not self.unattributed and not self.divergences

    def principals(self) -> list[dict[str, Any]]:
        totals: dict[str, dict[str, Any]] = {}
        for run in self.runs:
            item = totals.setdefault(run.principal or "-", {"principal": run.principal, "runs": 0, "statements": 0, "divergent": 0, "actors": set()})
            item["runs"] += 1
            item["statements"] += run.statements
            item["divergent"] += run.divergent
            if run.actor:
                item["actors"].add(run.actor)
        return [{**item, "actors": sorted(item["actors"])} for _, item in sorted(totals.items())]

    def to_dict(self) -> dict[str, Any]:
        return {
            "logged_statements": self.logged,
            "attributed": self.attributed,
            "transaction_control": self.control,
            "transaction_control_outside_runs": self.control_outside_runs,
            "catalog_lookups": self.catalog_lookups,
            "ledger_traffic": self.ledger_traffic,
            "first": self.first,
            "last": self.last,
            "principals": self.principals(),
            "runs": [run.to_dict() for run in self.runs],
            "unattributed": [item.to_dict() for item in self.unattributed],
            "divergences": [item.to_dict() for item in self.divergences],
        }


@dataclass
class _Pending:
    """A logged statement without a run's comment, waiting for pass two."""

    position: int
    statement: LoggedStatement
    fingerprint: str
    text: str
    kind: str  # control | catalog | other


@dataclass
class _Window:
    """Where and when a run's statements show in the log (for attributing catalog lookups by time)."""

    first: datetime
    last: datetime
    users: set[str] = field(default_factory=set)
    databases: set[str] = field(default_factory=set)
    applications: set[str] = field(default_factory=set)

    def add(self, statement: LoggedStatement) -> None:
        self.first, self.last = min(self.first, statement.time), max(self.last, statement.time)
        self.users.add(statement.user)
        self.databases.add(statement.database)
        self.applications.add(statement.application)


def correlate(
    statements: Iterable[LoggedStatement],
    entries: Iterable[Entry],
    dialect: str = "postgres",
    ledger_statements: Iterable[str] = (),
    window: float = WINDOW_SECONDS,
) -> CorrelationReport:
    runs = _runs_from_ledger(entries, dialect)
    ledger_fps = {normalize(sql, dialect)[1] for sql in ledger_statements}
    summaries: dict[str, RunSummary] = {}
    seen: dict[str, Counter] = defaultdict(Counter)
    sessions: dict[str, set[str]] = defaultdict(set)  # log session -> runs seen on it
    windows: dict[str, _Window] = {}
    pending: list[_Pending] = []
    unattributed: list[tuple[int, Unattributed]] = []
    report = CorrelationReport([], [], [])
    for position, statement in enumerate(statements):
        report.logged += 1
        stamp = statement.time.isoformat() if statement.time else None
        report.first = report.first or stamp
        report.last = stamp or report.last
        text, fp = normalize(statement.sql, dialect)
        fields = parse_comment(statement.sql) or {}
        run_id = fields.get("run_id")
        if run_id is None:
            if _is_transaction_control(statement.sql, dialect):
                pending.append(_Pending(position, statement, fp, text, "control"))
                continue
            tree = _parse(statement.sql, dialect)
            if _is_ledger_traffic(tree, statement, fp, ledger_fps):
                report.ledger_traffic += 1
                continue
            kind = "catalog" if is_catalog_lookup(statement.sql, dialect) else "other"
            pending.append(_Pending(position, statement, fp, text, kind))
            continue
        if run_id not in runs:
            tree = _parse(statement.sql, dialect)
            unattributed.append((position, Unattributed(statement, fp, text, _tables(tree), f"the comment names run {run_id}, which the ledger does not know")))
            continue
        known = runs[run_id]
        summary = _summary(summaries, run_id, known)
        _seen_in(summary, statement, windows)
        summary.statements += 1
        sessions[statement.session].add(run_id)
        reason = None
        for key in comparable_fingerprints(text, dialect):  # dbt sends some statements in one query
            seen[run_id][key] += 1
            reason = reason or _divergence(fields, known, key, seen[run_id][key])
        if reason is not None:
            summary.divergent += 1
            report.divergences.append(Divergence(statement, run_id, known.identity.get("principal"), fp, text, reason, tuple(sorted(known.sql_fingerprints.values()))))

    # pass two: what carries no comment, by session, then catalog lookups by time
    for item in pending:
        application_run = _run_of_application(item.statement.application)
        if application_run in runs:
            sessions[item.statement.session].add(application_run)
    left: list[_Pending] = []
    for item in pending:
        run_id = _session_run(item.statement, sessions) if item.kind != "other" else None
        if run_id is None:
            left.append(item)
            continue
        _attribute(item, run_id, runs, summaries, windows, report, seen, dialect)
    for item in left:
        if item.kind != "catalog":
            continue
        run_id = _window_run(item.statement, windows, window)
        if run_id is not None:
            sessions[item.statement.session].add(run_id)
            _attribute(item, run_id, runs, summaries, windows, report, seen, dialect, by_time=True)
            item.kind = "done"
    for item in left:
        if item.kind == "control":
            run_id = _session_run(item.statement, sessions)
            if run_id is not None:
                _attribute(item, run_id, runs, summaries, windows, report, seen, dialect)
            else:
                report.control += 1
                report.control_outside_runs += 1
        elif item.kind in ("catalog", "other"):
            tree = _parse(item.statement.sql, dialect)
            reason = "no run-identity comment: not sent by a governed pipeline"
            if item.kind == "catalog":
                reason += " (a catalog lookup, outside every governed run's sessions and time)"
            unattributed.append((item.position, Unattributed(item.statement, item.fingerprint, item.text, _tables(tree), reason)))
    report.unattributed = [item for _, item in sorted(unattributed, key=lambda pair: pair[0])]

    for run_id, summary in summaries.items():
        known = runs[run_id]
        summary.not_in_log = [
            {"fingerprint": known.sql_fingerprints.get(key, key), "sql": known.sql.get(key), "recorded": count, "logged": seen[run_id][key]}
            for key, count in sorted(known.executed.items())
            if seen[run_id][key] == 0
        ]
    report.runs = sorted(summaries.values(), key=lambda run: (run.first or "", run.run_id))
    report.attributed = sum(run.attributed for run in report.runs)
    return report


def _seen_in(summary: RunSummary, statement: LoggedStatement, windows: dict[str, _Window]) -> None:
    stamp = statement.time.isoformat() if statement.time else None
    summary.database_users.add(statement.user)
    summary.applications.add(statement.application)
    summary.clients.add(statement.client)
    if stamp and (summary.first is None or stamp < summary.first):
        summary.first = stamp
    if stamp and (summary.last is None or stamp > summary.last):
        summary.last = stamp
    if statement.time is not None:
        known = windows.get(summary.run_id)
        if known is None:
            windows[summary.run_id] = _Window(statement.time, statement.time)
        windows[summary.run_id].add(statement)


def _attribute(item: _Pending, run_id: str, runs, summaries, windows, report: CorrelationReport, seen, dialect: str, by_time: bool = False) -> None:
    summary = _summary(summaries, run_id, runs[run_id])
    for key in comparable_fingerprints(item.text, dialect):  # a runner may record its COMMITs too
        if runs[run_id].executed.get(key):
            seen[run_id][key] += 1
    if item.kind == "control":
        summary.control += 1
        report.control += 1
    else:
        summary.catalog_lookups += 1
        summary.catalog_by_time += by_time
        report.catalog_lookups += 1
    _seen_in(summary, item.statement, windows)


def _session_run(statement: LoggedStatement, sessions: dict[str, set[str]]) -> str | None:
    runs = sessions.get(statement.session)
    if not runs:
        return None
    return sorted(runs)[0] if len(runs) == 1 else None


def _window_run(statement: LoggedStatement, windows: dict[str, _Window], seconds: float) -> str | None:
    """The run whose statements in the log are closest before (else after) this one, within
    ``seconds``, from the same database user and database, on a session without another
    application's name."""
    when = statement.time
    if when is None:
        return None
    margin = timedelta(seconds=seconds)
    best: tuple[tuple, str] | None = None
    for run_id, span in windows.items():
        if statement.user not in span.users or statement.database not in span.databases:
            continue
        if statement.application and statement.application not in span.applications:
            continue
        if not (span.first - margin <= when <= span.last + margin):
            continue
        inside = span.first <= when <= span.last
        distance = 0.0 if inside else min(abs((when - span.last).total_seconds()), abs((span.first - when).total_seconds()))
        rank = (distance, 0 if span.last <= when else 1, run_id)
        if best is None or rank < best[0]:
            best = (rank, run_id)
    return best[1] if best else None


@dataclass
class _RunLedger:
    """What the ledger says one run executed, keyed by ``comparable_fingerprint``."""

    identity: dict[str, Any]
    executed: Counter = field(default_factory=Counter)
    refused: set[str] = field(default_factory=set)
    sql: dict[str, str] = field(default_factory=dict)
    sql_fingerprints: dict[str, str] = field(default_factory=dict)  # key -> the ledger's own fingerprint


def _runs_from_ledger(entries: Iterable[Entry], dialect: str = "postgres") -> dict[str, _RunLedger]:
    runs: dict[str, _RunLedger] = {}
    for entry in entries:
        body = entry.body
        identity = body.get("identity") or {}
        run_id = identity.get("run_id")
        if not run_id:
            continue
        run = runs.setdefault(run_id, _RunLedger(identity))
        if body.get("kind") == "statement":
            statement = body.get("statement") or {}
            fp = statement.get("executed_fingerprint") or statement.get("fingerprint")
            text = statement.get("executed_sql") or statement.get("sql")
            key = comparable_fingerprint(text, dialect) if text else fp
            if body.get("phase") == "started":
                run.executed[key] += 1
                run.sql[key] = text
                run.sql_fingerprints[key] = fp
            elif body.get("phase") == "refused":
                run.refused.add(key)
        else:
            payload = body.get("payload") or {}
            if payload.get("fingerprint"):  # statements lineage sent itself, and executemany's repeats
                text = payload.get("sql")
                key = comparable_fingerprint(text, dialect) if text else payload["fingerprint"]
                run.executed[key] += int(payload.get("repeats", 1))
                run.sql[key] = text
                run.sql_fingerprints[key] = payload["fingerprint"]
    return runs


def comparable_fingerprint(normalized: str, dialect: str) -> str:
    """The fingerprint the log and the ledger are matched by: of normalised SQL (``?`` for
    values), with what client-side binding adds taken out: a cast of a value, NULL, a boolean
    and a negated value are a value. psycopg2 sends ``'2018-01-01'::date`` where dbt wrote
    ``%s``: both sides become ``?``.

        INSERT INTO t VALUES (?, CAST(? AS DATE), NULL, -?)  ->  fingerprint of  INSERT INTO t VALUES (?, ?, ?, ?)
    """
    return _hash("; ".join(_comparable_parts(normalized, dialect)))


def comparable_fingerprints(normalized: str, dialect: str) -> tuple[str, ...]:
    """One ``comparable_fingerprint`` per statement: a logged query can hold several (dbt sends
    a contract's ``create table ...; insert into ...`` as one), the ledger records each."""
    return tuple(_hash(part) for part in _comparable_parts(normalized, dialect))


@functools.lru_cache(maxsize=65536)
def _comparable_parts(normalized: str, dialect: str) -> tuple[str, ...]:
    try:
        trees = [tree for tree in get_dialect(dialect).parse(normalized) if tree is not None]
    except (SqlglotError, Exception):
        trees = []
    if not trees or any(isinstance(tree, exp.Command) for tree in trees):
        return (normalized,)
    return tuple(tree.transform(_as_value).sql(dialect=dialect) for tree in trees)


def _hash(text: str) -> str:
    return "cf:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _as_value(node: exp.Expression) -> exp.Expression:
    if isinstance(node, (exp.Null, exp.Boolean)) or (isinstance(node, (exp.Cast, exp.Neg)) and _is_value(node.this)):
        return exp.var("?")
    return node


def _is_value(node: exp.Expression) -> bool:
    return isinstance(node, exp.Placeholder) or (isinstance(node, exp.Var) and node.name == "?")


def _divergence(fields: dict[str, str], run: _RunLedger, fp: str, times_seen: int) -> str | None:
    principal = run.identity.get("principal")
    if fields.get("principal") is not None and fields["principal"] != principal:
        return f"the comment names principal {fields['principal']!r}, the ledger's run belongs to {principal!r}"
    recorded = run.executed.get(fp, 0)
    if recorded == 0:
        if fp in run.refused:
            return "the ledger records this statement as refused, yet it ran"
        return "its fingerprint differs from every statement the ledger records as executed for this run (changed after the decision or approval?)"
    if times_seen > recorded:
        return f"ran {times_seen} times, the ledger records {recorded} execution(s) for this run (replayed?)"
    return None


def _summary(summaries: dict[str, RunSummary], run_id: str, run: _RunLedger) -> RunSummary:
    if run_id not in summaries:
        identity = run.identity
        job = f"{identity.get('job_namespace')}/{identity.get('job_name')}" if identity.get("job_name") else None
        summaries[run_id] = RunSummary(run_id, identity.get("principal"), identity.get("actor"), job, identity.get("source"))
    return summaries[run_id]


def _run_of_application(application: str) -> str | None:
    """``lg:<run id>:<principal>`` (``lineage.identity.comment.application_name``) -> the run id."""
    if not application.startswith("lg:"):
        return None
    return application.split(":", 2)[1] if application.count(":") >= 2 else None


def _parse(sql: str, dialect: str) -> list[exp.Expression]:
    try:
        return [tree for tree in get_dialect(dialect).parse(sql) if tree is not None]
    except (SqlglotError, Exception):
        return []


_CONTROL_WORDS = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"}


def _is_transaction_control(sql: str, dialect: str) -> bool:
    """Every statement in ``sql`` opens, ends or marks a transaction (by its first token: the
    parser does not know every form, such as ``BEGIN ISOLATION LEVEL ... READ ONLY``)."""
    try:
        tokens = get_dialect(dialect).tokenize(sql)
    except (SqlglotError, Exception):
        return False
    first_words, expect_first = [], True
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            expect_first = True
        elif expect_first:
            first_words.append(token.text.upper())
            expect_first = False
    return bool(first_words) and all(word in _CONTROL_WORDS for word in first_words)


def _is_ledger_traffic(trees: list[exp.Expression], statement: LoggedStatement, fp: str, ledger_fps: set[str]) -> bool:
    """The ledger's own statements (when it lives in this server): its fixed SQL, or reads and
    appends that touch only its tables, sent under its application name. Changes to records
    by anyone else stay unattributed."""
    from lineage.record.postgres import APPLICATION_NAME

    if statement.application != APPLICATION_NAME or not trees:
        return False
    if fp in ledger_fps:
        return True
    tables = {table.name.lower() for tree in trees for table in tree.find_all(exp.Table)}
    if not tables or not tables <= LEDGER_TABLES:
        return False
    for tree in trees:
        if not isinstance(tree, (exp.Select, exp.Insert)) or tree.find(exp.Delete, exp.TruncateTable, exp.Drop, exp.Alter):
            return False
        if any(update.this.name.lower() != "lineage_ledger_head" for update in tree.find_all(exp.Update)):
            return False
    return True


def _tables(trees: list[exp.Expression]) -> tuple[str, ...]:
    names = set()
    for tree in trees:
        for table in tree.find_all(exp.Table):
            if table.name:
                names.add(".".join(part for part in (table.catalog, table.db, table.name) if part))
    return tuple(sorted(names))
