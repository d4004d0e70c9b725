"""Line PostgreSQL's own statement log up with the ledger: who ran what, and what no run explains.

    correlate(read_statements(["pg_log/"]), ledger.entries())
    -> Report(runs=[RunSummary(run_id, principal, statements=12, ...)],
              unattributed=[Unattributed(user="bob", application="psql", sql="SELECT ssn FROM ...", ...)],
              divergences=[Divergence(run_id, reason="fingerprint differs from every statement ...")])

Every governed statement carries the run-identity comment (``lineage.comment``), and the
ledger holds the fingerprint of the SQL that run executed. For each logged statement:

- **attributed**: its comment names a run the ledger knows and its fingerprint is one the
  ledger recorded (as executed) for that run;
- **divergent**: its comment names a known run, but the ledger has no such executed statement
  for it (the SQL was changed after the decision or approval, a refused statement ran anyway,
  a statement ran more often than recorded, or the comment's principal is not the run's);
- **unattributed**: no comment, or a comment naming a run the ledger does not know: access
  outside any governed pipeline. Reported with user, application, client and time.

Transaction control (BEGIN, COMMIT, ...) touches no data and is only counted, as is the
ledger's own traffic when the ledger lives in the same server. SQL is only ever reported
normalised (literals replaced), and bind values in the log's detail column are never read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from lineage.analysis.statements import get_dialect
from lineage.comment import parse_comment
from lineage.csvlog import LoggedStatement
from lineage.fingerprint import normalize
from lineage.ledger.chain import Entry

LEDGER_TABLES = {"lineage_ledger", "lineage_ledger_head", "lineage_ledger_schema"}


@dataclass
class RunSummary:
    run_id: str
    principal: str | None
    actor: str | None
    job: str | None
    source: str | None
    statements: int = 0
    divergent: int = 0
    control: int = 0
    database_users: set[str] = field(default_factory=set)
    applications: set[str] = field(default_factory=set)
    clients: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None
    not_in_log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("database_users", "applications", "clients"):
            out[key] = sorted(out[key])
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
class Report:
    runs: list[RunSummary]
    unattributed: list[Unattributed]
    divergences: list[Divergence]
    logged: int = 0
    attributed: int = 0
    control: int = 0
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
            "ledger_traffic": self.ledger_traffic,
            "first": self.first,
            "last": self.last,
            "principals": self.principals(),
            "runs": [run.to_dict() for run in self.runs],
            "unattributed": [item.to_dict() for item in self.unattributed],
            "divergences": [item.to_dict() for item in self.divergences],
        }


@dataclass
class _RunLedger:
    """What the ledger says one run executed."""

    identity: dict[str, Any]
    executed: Counter = field(default_factory=Counter)
    refused: set[str] = field(default_factory=set)
    sql: dict[str, str] = field(default_factory=dict)


def correlate(statements: Iterable[LoggedStatement], entries: Iterable[Entry], dialect: str = "postgres", ledger_statements: Iterable[str] = ()) -> Report:
    runs = _runs_from_ledger(entries)
    ledger_fps = {normalize(sql, dialect)[1] for sql in ledger_statements}
    summaries: dict[str, RunSummary] = {}
    seen: dict[str, Counter] = defaultdict(Counter)
    report = Report([], [], [])
    for statement in statements:
        report.logged += 1
        stamp = statement.time.isoformat() if statement.time else None
        report.first = report.first or stamp
        report.last = stamp or report.last
        text, fp = normalize(statement.sql, dialect)
        fields = parse_comment(statement.sql) or {}
        run_id = fields.get("run_id")
        if run_id is None:
            if _is_transaction_control(statement.sql, dialect):
                report.control += 1
                session_run = _run_of_application(statement.application)
                if session_run in runs:
                    _summary(summaries, session_run, runs[session_run]).control += 1
                continue
            tree = _parse(statement.sql, dialect)
            if _is_ledger_traffic(tree, statement, fp, ledger_fps):
                report.ledger_traffic += 1
                continue
            report.unattributed.append(Unattributed(statement, fp, text, _tables(tree), "no run-identity comment: not sent by a governed pipeline"))
            continue
        if run_id not in runs:
            tree = _parse(statement.sql, dialect)
            report.unattributed.append(Unattributed(statement, fp, text, _tables(tree), f"the comment names run {run_id}, which the ledger does not know"))
            continue
        known = runs[run_id]
        summary = _summary(summaries, run_id, known)
        summary.statements += 1
        summary.database_users.add(statement.user)
        summary.applications.add(statement.application)
        summary.clients.add(statement.client)
        summary.first = summary.first or stamp
        summary.last = stamp or summary.last
        report.attributed += 1
        seen[run_id][fp] += 1
        reason = _divergence(fields, known, fp, seen[run_id][fp])
        if reason is not None:
            summary.divergent += 1
            report.divergences.append(Divergence(statement, run_id, known.identity.get("principal"), fp, text, reason, tuple(sorted(known.executed))))
    for run_id, summary in summaries.items():
        known = runs[run_id]
        summary.not_in_log = [{"fingerprint": fp, "sql": known.sql.get(fp), "recorded": count, "logged": seen[run_id][fp]} for fp, count in sorted(known.executed.items()) if seen[run_id][fp] == 0]
    report.runs = sorted(summaries.values(), key=lambda run: (run.first or "", run.run_id))
    return report


def _runs_from_ledger(entries: Iterable[Entry]) -> dict[str, _RunLedger]:
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
            if body.get("phase") == "started":
                run.executed[fp] += 1
                run.sql[fp] = statement.get("executed_sql") or statement.get("sql")
            elif body.get("phase") == "refused":
                run.refused.add(fp)
        else:
            payload = body.get("payload") or {}
            if payload.get("fingerprint"):  # statements lineage sent itself, and executemany's repeats
                run.executed[payload["fingerprint"]] += int(payload.get("repeats", 1))
                run.sql[payload["fingerprint"]] = payload.get("sql")
    return runs


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
    """``lg:<run id>:<principal>`` (``lineage.comment.application_name``) -> the run id."""
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
    from lineage.ledger.postgres import APPLICATION_NAME

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
