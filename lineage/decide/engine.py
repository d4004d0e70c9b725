"""The decision engine: SQL + identity -> one Decision per statement.

    analysis (facts) -> guardrail rules (findings) -> masking rewrite -> Decision

The strictest action among the findings wins. In audit mode the decision is recorded as
decided but the original SQL passes unchanged (``effective_action`` is ``allow``).
The masking step is ``lineage.mask.rewrite.mask_statement`` (through ``lineage.mask.step``, which
loads it once a column is classified) unless another masker is given; with ``masker=None`` the
``masking_refused`` rule refuses what would need masking.
Decisions are cached by (sql, dialect, catalog version, identity's policy attributes); the
policy version is fixed per engine.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Iterable, Protocol

from lineage.decide.analysis import DEFAULT_BUDGET_SECONDS, analyze_statement, split_statements
from lineage.decide.analysis.statements import get_dialect
from lineage.decide.catalog import Catalog
from lineage.decide.classify import ClassificationEntry, Classifier
from lineage.identity.run_identity import RunIdentity
from lineage.decide.deadline import deadline
from lineage.decide.dbt_swap import node_relation
from lineage.decide.limits import OVER_LIMITS, CheckLimits, CheckTooSlow, Clock, stand_in
from lineage.mask.step import mask_statement, masks_for
from lineage.model import Action, Decision, Finding, MaskedColumn, MaskResult, StatementFacts
from lineage.decide.names import any_table_matches
from lineage.policy import LoadedPolicy, default_policy
from lineage.decide.rules import RULES, RuleContext
from lineage.decide.verdict import runs_as_written, verdict
from lineage.decide.analysis.kinds import CREATING_FROM_QUERIES


class Masker(Protocol):
    def __call__(self, facts: StatementFacts, context: RuleContext) -> MaskResult: ...


def _physical_names(facts: StatementFacts) -> list[str]:
    """The relation a CREATE actually made (dbt's ``x__dbt_tmp``), besides its logical name."""
    expression = facts.expression
    target = getattr(expression, "this", None)
    if target is not None and hasattr(target, "this") and type(target).__name__ == "Schema":
        target = target.this
    if target is None or type(target).__name__ != "Table":
        return []
    parts = [part.name for part in (target.args.get("catalog"), target.args.get("db"), target.this) if part is not None and part.name]
    return [".".join(parts)] if parts else []


def _if_not_exists(facts: StatementFacts) -> bool:
    """``CREATE TABLE IF NOT EXISTS x AS ...``: the database leaves an existing x as it is."""
    return bool(facts.expression is not None and facts.expression.args.get("exists"))


def _over_limits(sql: str, dialect: str, reason: str) -> StatementFacts:
    """The facts of text the check refused unfinished (``lineage.decide.limits``): nothing proven."""
    return StatementFacts(0, sql, dialect, OVER_LIMITS, parse_error=reason, lineage_complete=False)


class Engine:
    def __init__(
        self,
        policy: LoadedPolicy | None = None,
        catalog: Catalog | None = None,
        dialect: str = "postgres",
        cache_size: int = 4096,
        budget: float = DEFAULT_BUDGET_SECONDS,
        extra_classifications: Iterable[ClassificationEntry] = (),
        masker: Masker | None = mask_statement,
    ):
        get_dialect(dialect)
        self.policy = policy or default_policy()
        self.dialect = dialect
        self.catalog = catalog or Catalog(dialect=dialect)
        self.budget = budget
        self.classifier = Classifier.from_policy(self.policy.policy, extra_classifications)
        self.masker = masker
        self._cache: OrderedDict[tuple, tuple[Decision, ...]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def policy_version(self) -> str:
        return self.policy.version

    def set_catalog(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def learn(self, decision: Decision) -> bool:
        """After a CREATE TABLE/VIEW ran, add the relation's columns to the catalog.

        Later statements of the same pipeline (dbt's next model, a SELECT * on the new table)
        then get column lineage and masking without a round trip to the warehouse. Types
        are unknown here; the catalog is reloaded from the database when they matter.
        """
        facts = decision.facts
        if facts.kind not in CREATING_FROM_QUERIES or not facts.output_columns:
            return False
        if "*" in facts.output_columns or not facts.writes:
            return False
        columns = {name: "UNKNOWN" for name in facts.output_columns}
        logical = facts.writes[0]
        created = _physical_names(facts) or [logical]
        if _if_not_exists(facts) and any(self.catalog.columns(name) is not None or self.classifier.is_classified_table(name) for name in (*created, logical)):
            return False  # a no-op when the relation exists: its columns are the database's, not these
        learned = False
        for name in dict.fromkeys([*created, logical]):
            existing = self.catalog.columns(name)
            if name not in created and existing is not None and self._drops_classified(name, existing, columns):
                continue  # a swap relation (x__dbt_tmp) does not take a classified x's columns away before the swap
            if existing is None or list(existing) != list(columns):
                self.catalog.add_table(name, columns)
            learned = True
        return learned

    def _drops_classified(self, name: str, existing, columns) -> bool:
        """Whether ``columns`` lacks a classified column the catalog lists for ``name``."""
        kept = {column.lower() for column in columns}
        return any(column.lower() not in kept for column in self.classifier.classified_columns(name, columns=list(existing)))


    def check(self, sql: str, identity: RunIdentity, dialect: str | None = None) -> tuple[Decision, ...]:
        """Decisions for every statement in ``sql`` (cached)."""
        dialect = dialect or self.dialect
        # the dbt node's relation too: its own swap names are no rename or drop (``lineage.decide.dbt_swap``)
        key = (sql, dialect, self.catalog.version, identity.principal, identity.groups, identity.environment, node_relation(identity))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        limits = CheckLimits.from_policy(self.policy.policy)
        too_large = limits.size_problem(sql)
        if too_large is not None:
            decisions = (self._refuse_unchecked(sql, dialect, too_large, identity),)
        else:
            clock = limits.clock()
            try:
                with deadline(limits.max_check_seconds, CheckTooSlow):
                    analysed = self.analyze(sql, dialect, clock, keep_statement=self._masker_reads_statement(identity, dialect))
                    decisions = tuple(self._decide(facts, identity, clock, owned=True) for facts in analysed)
            except CheckTooSlow as error:  # not cached: a busy machine may be slow only this once
                return (self._refuse_unchecked(sql, dialect, str(error) or clock.reason(), identity),)
        with self._lock:
            self.misses += 1
            self._cache[key] = decisions
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return decisions

    def _refuse_unchecked(self, sql: str, dialect: str, reason: str, identity: RunIdentity) -> Decision:
        """The refusal of text the check could not finish (``lineage.decide.limits``), shown by its stand-in.
        Even in audit mode it does not run: what was not analysed cannot be recorded as what ran."""
        decision = self._decide(_over_limits(stand_in(sql), dialect, reason), identity)
        return replace(decision, effective_action=Action.BLOCK, would_be_sql=None)

    def analyze(self, sql: str, dialect: str | None = None, clock: Clock | None = None, keep_statement: bool = True) -> list[StatementFacts]:
        """The facts of every statement; ``keep_statement=False`` when no masker will read
        ``facts.statement`` (the analysis then qualifies the parse in place instead of a copy)."""
        dialect = dialect or self.dialect
        parsed_statements = split_statements(sql, dialect)
        facts = []
        for parsed in parsed_statements:
            if clock is not None:
                clock.check("parsing" if not facts else f"statement {parsed.index}")
            facts.append(analyze_statement(parsed, dialect, self.catalog, self.budget, keep_statement))
        return facts

    def _masker_reads_statement(self, identity: RunIdentity, dialect: str) -> bool:
        """Whether the masking step will read the statement as parsed: not without a masker, nor
        when the built-in rewrite masks nothing for this identity (it returns before reading it)."""
        if self.masker is None:
            return False
        if self.masker is not mask_statement:
            return True
        return masks_for(self.context(identity), dialect)

    def decide(self, facts: StatementFacts, identity: RunIdentity) -> Decision:
        return self._decide(facts, identity)

    def context(self, identity: RunIdentity) -> RuleContext:
        policy_dir = self.policy.base_dir if self.policy.path else None
        return RuleContext(self.policy.policy, identity, self.catalog, self.classifier, policy_dir)

    def _decide(self, facts: StatementFacts, identity: RunIdentity, clock: Clock | None = None, owned: bool = False) -> Decision:
        """``owned``: these facts are the check's own (its analysis made them and the decision drops
        ``facts.statement``), so the built-in rewrite may rewrite the statement without a copy."""
        context = self.context(identity)
        findings: list[Finding] = []
        for rule in RULES.values():
            if rule.reported_by_masker and self.masker is not None:
                continue  # the masking step below reports these, running the rewrite once
            if clock is not None:
                clock.check(f"rule {rule.name}")
            for finding in rule.function(facts, context):
                findings.append(replace(finding, action=self._action_for(finding, identity)))
        masked: tuple[MaskedColumn, ...] = ()
        rewritten: str | None = None
        if self.masker is not None:
            if clock is not None:
                clock.check("masking")
            result = mask_statement(facts, context, owned=True) if owned and self.masker is mask_statement else self.masker(facts, context)
            if clock is not None:
                clock.check("masking")
            masked = result.masked_columns
            rewritten = result.sql
            for finding in result.findings:
                findings.append(replace(finding, action=finding.action or self._action_for(finding, identity)))
        audit = runs_as_written(self.policy.mode, facts.unsafe_text)
        action, effective = verdict(findings, bool(masked) or rewritten is not None, audit)
        # the masked SQL whenever there is one: a statement held for approval runs it after approval
        final_sql = rewritten if rewritten is not None else facts.sql
        return Decision(
            index=facts.index,
            action=action,
            effective_action=effective,
            sql=facts.sql if audit else final_sql,
            original_sql=facts.sql,
            # the parse before qualification only serves the masking rewrite: cached decisions
            # would otherwise keep two trees per statement alive (memory, and long GC pauses)
            facts=replace(facts, statement=None) if facts.statement is not None else facts,
            findings=tuple(findings),
            masked_columns=masked,
            policy_version=self.policy.version,
            mode=self.policy.mode,
            would_be_sql=final_sql if audit and final_sql != facts.sql else None,
        )

    def action_for(self, finding: Finding, identity: RunIdentity) -> Action:
        """The policy's action for a finding raised outside a statement (the dbt pre-flight's DAG findings)."""
        return self._action_for(finding, identity)

    def _action_for(self, finding: Finding, identity: RunIdentity) -> Action:
        rule = RULES.get(finding.rule)
        action = self._policy_action(finding, identity, rule)
        if rule is not None and rule.floor is not None:
            action = Action.strictest((action, rule.floor))
        return action

    def _policy_action(self, finding: Finding, identity: RunIdentity, rule) -> Action:
        entries = [entry for entry in self.policy.policy.guardrails if entry.rule == finding.rule]
        if not entries:
            return finding.default_action or (rule.default if rule else Action.BLOCK)
        for entry in entries:
            if entry.environments is not None and identity.environment not in entry.environments:
                continue
            if entry.tables is not None and not (finding.object and any_table_matches(entry.tables, finding.object)):
                continue
            return entry.action
        return Action.ALLOW
