"""The governor's events collaborator: each governed statement becomes an OpenLineage run.

    governor = Governor(engine, events=GovernanceEvents(emitter, engine))
    governor.execute("insert into mart.x select ... from crm.customers", identity, run, context)
      -> START     {job}.query.1  parent = identity's run   inputs/outputs with schema
      -> COMPLETE  (or FAIL with errorMessage)               the same inputs/outputs again

Blocked and held statements produce START then FAIL, with the refusal as ``errorMessage`` and
the decision facet, so attempted access shows in the lineage. Building or emitting an event
never raises into the statement's path: a failure is logged and the statement goes on.

Cost: the engine hands out the same Decision object for a repeated statement, so a statement's
datasets, SQL facet and their JSON are built once per (decision, where it ran) and reused; the
identity's facets once per run. Each event then costs its decision facet and a small JSON splice.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.event_v2 import RunState as EventType

from lineage.deliver.build import (
    error_text,
    event_time,
    job_event,
    new_statement_run_id,
    refusal_text,
    statement_event,
    statement_job_facets,
    statement_run_facets,
    statement_sql,
)
from lineage.deliver.datasets import Where, statement_datasets
from lineage.deliver.emit import SharedParts
from lineage.deliver.facets import GovernanceApproval
from lineage.identity.run_identity import RunIdentity
from lineage.model import Action, Decision

log = logging.getLogger(__name__)

TEMPLATES = 1024
IDENTITIES = 64


@dataclass
class _Template:
    """What every run of one statement (decision) at one place has in common."""

    decision: "weakref.ref[Decision]"
    inputs: list[InputDataset]
    outputs: list[OutputDataset]
    job_facets: dict
    sensitive: bool
    shared: SharedParts


@dataclass
class _Identity:
    identity: RunIdentity
    run_facets: dict
    shared: SharedParts


@dataclass
class _StatementRun:
    run_id: str
    template: _Template
    identity: _Identity
    shared: SharedParts


def _schemas(decision: Decision, catalog) -> tuple | None:
    """What a statement's datasets take from the catalog: the columns of the tables it reads and
    writes. A catalog that learns other relations (the task's next CREATE) keeps the template."""
    if catalog is None:
        return None
    facts = decision.facts
    out = []
    for table in (*facts.reads, *facts.writes):
        columns = catalog.columns(table)
        out.append(tuple(columns.items()) if columns else None)
    return tuple(out)


class GovernanceEvents:
    def __init__(self, emitter, engine=None, *, catalog=None, classifier=None):
        """``engine`` supplies the catalog (schemas) and classifier (tags); both can be given
        instead. The engine is read on every statement, so catalogs it learns are used."""
        self.emitter = emitter
        self.engine = engine
        self._catalog = catalog
        self._classifier = classifier
        self._runs: dict[tuple[str, int, int], _StatementRun] = {}
        self._templates: OrderedDict[tuple, _Template] = OrderedDict()
        self._identities: OrderedDict[str, _Identity] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def catalog(self):
        return self._catalog if self._catalog is not None else getattr(self.engine, "catalog", None)

    @property
    def classifier(self):
        return self._classifier if self._classifier is not None else getattr(self.engine, "classifier", None)

    # -- statement runs (the governor's protocol) --------------------------------------------

    def statement_started(self, identity: RunIdentity, decision: Decision, context) -> str | None:
        try:
            run = self._new_run(identity, decision, context)
            with self._lock:
                self._runs[self._key(identity, context)] = run
            outcome = "blocked" if decision.effective_action == Action.BLOCK else "started"
            return self._emit(EventType.START, identity, decision, context, run, outcome)
        except Exception:
            log.exception("lineage events: could not emit START for statement #%s of run %s", context.statement_number, identity.run_id)
            return None

    def statement_finished(self, identity: RunIdentity, decision: Decision, context, outcome) -> str | None:
        try:
            with self._lock:
                run = self._runs.pop(self._key(identity, context), None)
            if run is None:  # finished without a start: still one complete run
                run = self._new_run(identity, decision, context)
            approval = None
            if outcome.approval_id or outcome.extra.get("approval_request") or outcome.extra.get("approver"):
                approval = GovernanceApproval(
                    id=outcome.approval_id, approver=outcome.extra.get("approver"), requestId=outcome.extra.get("approval_request")
                )
            if outcome.executed_sql is None:
                label = "blocked" if decision.effective_action == Action.BLOCK else "awaiting_approval"
                return self._emit(EventType.FAIL, identity, decision, context, run, label, refusal_text(decision), approval)
            if outcome.error is not None:
                error = error_text(outcome.error, run.template.sensitive)
                return self._emit(EventType.FAIL, identity, decision, context, run, "failed", error, approval)
            return self._emit(EventType.COMPLETE, identity, decision, context, run, "completed", None, approval)
        except Exception:
            log.exception("lineage events: could not emit the end of statement #%s of run %s", context.statement_number, identity.run_id)
            return None

    def _key(self, identity: RunIdentity, context) -> tuple[str, int, int]:
        # the governor calls start and finish from the same thread, one statement at a time
        return identity.run_id, context.statement_number, threading.get_ident()

    def _new_run(self, identity: RunIdentity, decision: Decision, context) -> _StatementRun:
        template = self._template(decision, context)
        who = self._identity(identity)
        return _StatementRun(new_statement_run_id(), template, who, template.shared.merged(who.shared))

    def _template(self, decision: Decision, context) -> _Template:
        catalog, classifier = self.catalog, self.classifier
        key = (id(decision), context.namespace, context.database, context.dialect, id(classifier), _schemas(decision, catalog))
        with self._lock:
            template = self._templates.get(key)
            if template is not None and template.decision() is decision:
                self._templates.move_to_end(key)
                return template
        where = Where.of(context)
        inputs, outputs = statement_datasets(decision, where, catalog, classifier)
        sensitive = self._sensitive(decision)
        job_facets = statement_job_facets(statement_sql(decision, context.dialect, sensitive), context.dialect)
        template = _Template(weakref.ref(decision), inputs, outputs, job_facets, sensitive, SharedParts([inputs, outputs, job_facets]))
        with self._lock:
            self._templates[key] = template
            if len(self._templates) > TEMPLATES:
                self._templates.popitem(last=False)
        return template

    def _identity(self, identity: RunIdentity) -> _Identity:
        with self._lock:
            cached = self._identities.get(identity.run_id)
            if cached is not None and (cached.identity is identity or cached.identity == identity):
                self._identities.move_to_end(identity.run_id)
                return cached
        run_facets = statement_run_facets(identity)
        cached = _Identity(identity, run_facets, SharedParts(run_facets.values()))
        with self._lock:
            self._identities[identity.run_id] = cached
            if len(self._identities) > IDENTITIES:
                self._identities.popitem(last=False)
        return cached

    def _sensitive(self, decision: Decision) -> bool:
        """Touches classified data: literals stay out of the sql facet and error messages."""
        if decision.masked_columns:
            return True
        classifier = self.classifier
        if classifier is None:
            return False
        facts = decision.facts
        return any(classifier.is_classified_table(table) for table in (*facts.reads, *facts.writes))

    def _emit(self, event_type, identity, decision, context, run: _StatementRun, outcome: str, error=None, approval=None):
        # everything the event says is fixed here (its time too); an emitter in background mode
        # builds and writes it off the statement's path
        when, number = event_time(), context.statement_number

        def build():
            return statement_event(
                event_type,
                identity,
                decision,
                run_id=run.run_id,
                number=number,
                inputs=run.template.inputs,
                outputs=run.template.outputs,
                outcome=outcome,
                run_facets=run.identity.run_facets,
                job_facets=run.template.job_facets,
                error=error,
                approval=approval,
                event_time_value=when,
            )

        submit = getattr(self.emitter, "submit", None)
        return submit(build, run.shared) if submit is not None else self.emitter.emit(build(), run.shared)

    # -- job runs (a whole Airflow task, dbt invocation or dbt node) --------------------------

    def job_started(self, identity: RunIdentity, job_type: str, **kwargs: Any) -> str | None:
        return self._emit_job(EventType.START, identity, job_type, **kwargs)

    def job_completed(self, identity: RunIdentity, job_type: str, **kwargs: Any) -> str | None:
        return self._emit_job(EventType.COMPLETE, identity, job_type, **kwargs)

    def job_failed(self, identity: RunIdentity, job_type: str, error: str, **kwargs: Any) -> str | None:
        return self._emit_job(EventType.FAIL, identity, job_type, error=error, **kwargs)

    def _emit_job(self, event_type: EventType, identity: RunIdentity, job_type: str, **kwargs: Any) -> str | None:
        try:
            return self.emitter.emit(job_event(event_type, identity, job_type=job_type, **kwargs))
        except Exception:
            log.exception("lineage events: could not emit %s for job run %s", event_type.value, identity.run_id)
            return None
