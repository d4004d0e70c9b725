"""Pre-flight: every node a dbt command will run, analysed before anything runs.

Nodes come in DAG order, compiled in analysis mode (the macros write ``lineage_mask(col, ...)``
for ``mask()`` and log which relations they read through ``governed_source``/``governed_ref``).
Each node goes through the core engine as the statement dbt will run (``CREATE OR REPLACE
TABLE <model> AS <compiled SQL>``, a seed's table, a test's SELECT, a hook's SQL); the engine
learns each model's columns, so the next model's ``select *`` resolves. Column lineage then
carries classifications from sources through the whole DAG: a value stays *raw* until a mask
(``mask()``, or a governed read for an identity that may not see the tag) touches it.

    raw.customers.email (pii.email)  --stg_customers: select email--> staging.stg_customers.email
                                     --dim_customers: select email--> marts.dim_customers.email
    (an identity exempt from masking pii.email)
    -> pii_to_unapproved_zone (block): writes raw pii.email into shop.marts.dim_customers.email along
       shop.raw.customers.email -> shop.staging.stg_customers.email -> shop.marts.dim_customers.email,
       outside zones[0] (pii.* may be written to raw.*, staging.*)

Findings besides the engine's own (which keep their policy actions):
- ``pii_to_unapproved_zone`` along DAG paths (replaces the engine's one-statement version, which
  cannot see masks done by the macros);
- ``masking_refused`` (reason ``unmasked_read``): a node reads a classified column raw that this
  identity may only see masked, outside the governed macros; dbt runs SQL as compiled, so
  nothing would mask it (fail closed);
- schema changes against the live relation: dropped (the engine's ``drop_column``), renamed
  (``rename``: a dropped and a new column at one position) and retyped (``alter_column_type``)
  columns, naming the downstream columns, models and exposures that use them.

Pure: no dbt import; ``lineage.adapters.dbt.runner`` feeds it from a live dbt invocation and
``bench/bench_dbt_preflight.py`` from compiled SQL.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from lineage.decide.classify import zone_breach
from lineage.adapters.dbt.node import Node
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.mask.plan import ColumnMask, MaskPlanner
from lineage.decide.verdict import revised
from lineage.model import Action, Decision, Finding
from lineage.decide.rules.alter_column_type import type_change

MASK_FUNCTION = "lineage_mask"
# the engine's one-statement versions of what the pre-flight decides over the whole DAG
REPLACED_RULES = frozenset({"pii_to_unapproved_zone", "masking_refused"})
WILDCARD = "*"


@dataclass(frozen=True)
class Carried:
    """A classification tag a column carries, raw or masked, and the path it came along."""

    tag: str
    raw: bool
    path: tuple[str, ...]

    def describe(self) -> str:
        return " -> ".join(self.path)


@dataclass
class NodeResult:
    node: Node
    statement: str | None = None
    decision: Decision | None = None
    findings: list[Finding] = field(default_factory=list)
    # target column -> source column -> (subtype, masked)
    lineage: dict[str, dict[str, tuple[str, bool]]] = field(default_factory=dict)
    output_columns: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    governed: tuple[str, ...] = ()  # relations read through the governed macros (lower case)
    seconds: float = 0.0

    @property
    def action(self) -> Action:
        return Action.strictest(finding.action or Action.ALLOW for finding in self.findings)


@dataclass
class PreflightReport:
    identity: RunIdentity
    policy_version: str
    mode: str
    results: list[NodeResult] = field(default_factory=list)
    # relation -> column -> tag -> carried (WILDCARD column: incomplete lineage)
    columns: dict[str, dict[str, dict[str, Carried]]] = field(default_factory=dict)
    # governed relation -> column -> how this identity reads it (masked columns only)
    masks: dict[str, dict[str, ColumnMask]] = field(default_factory=dict)
    # node id -> column -> downstream node ids and exposures that use it
    usage: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # (strategy, tag) of every mask() call in the analysed SQL
    mask_calls: set[tuple[str, str]] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def findings(self) -> list[tuple[str, Finding]]:
        return [(result.node.unique_id, finding) for result in self.results for finding in result.findings]

    @property
    def action(self) -> Action:
        return Action.strictest(result.action for result in self.results if result.node.selected)

    @property
    def blocked(self) -> bool:
        return self.mode != "audit" and self.action == Action.BLOCK

    @property
    def needs_approval(self) -> bool:
        return self.mode != "audit" and self.action == Action.REQUIRE_APPROVAL

    def result(self, unique_id: str) -> NodeResult | None:
        return next((result for result in self.results if result.node.unique_id == unique_id), None)

    def decision_for(self, result: NodeResult) -> Decision | None:
        """The node's decision with the pre-flight's findings: what an approval binds to."""
        if result.decision is None:
            return None
        return revised(result.decision, result.findings)


class Preflight:
    """Analyses nodes in DAG order for one identity; ``run`` returns the report."""

    def __init__(
        self,
        engine: Engine,
        identity: RunIdentity,
        relations: Mapping[str, str],
        exposures: Mapping[str, Iterable[str]] = (),
        contracts: Iterable[str] = (),
        progress: Callable[[int, int, str], None] | None = None,
    ):
        self.engine = engine
        self.identity = identity
        self.dialect = engine.dialect
        self.policy = engine.policy.policy
        self.relations = dict(relations)  # node id -> relation
        self.node_of = {relation.lower(): node_id for node_id, relation in self.relations.items()}
        self.exposures = {key: tuple(value) for key, value in dict(exposures).items()}
        self.contracts = set(contracts)
        self.progress = progress
        context = engine.context(identity)
        self.planner = MaskPlanner(context, self.dialect, context.policy_dir)
        self.ephemeral_governed: dict[str, tuple[str, ...]] = {}
        self.report = PreflightReport(identity, engine.policy_version, engine.policy.mode)
        self._readers: dict[str, set[tuple[str, str]]] = {}  # relation.column -> {(node id, column)}
        self._renamed: dict[str, set[str]] = {}  # node id -> dropped columns reported as renamed

    # -- the pass ---------------------------------------------------------------------------

    def run(self, nodes: Iterable[Node]) -> PreflightReport:
        nodes = list(nodes)
        for index, node in enumerate(nodes, 1):
            self.add(node)
            if self.progress is not None:
                self.progress(index, len(nodes), node.unique_id)
        return self.finish()

    def add(self, node: Node) -> NodeResult | None:
        """Analyse one more node (its parents came before): the runner feeds nodes as dbt compiles them."""
        began = time.perf_counter()
        result = self._node(node)
        elapsed = time.perf_counter() - began
        self.report.seconds += elapsed
        if result is not None:
            result.seconds = elapsed
            self.report.results.append(result)
        return result

    def finish(self) -> PreflightReport:
        """Name who uses each changed column (needs every node's lineage) and return the report."""
        began = time.perf_counter()
        self._name_users()
        self.report.seconds += time.perf_counter() - began
        return self.report

    def _node(self, node: Node) -> NodeResult | None:
        if node.resource_type == "model" and node.materialized == "ephemeral":
            self.ephemeral_governed[node.unique_id] = node.governed
            return None
        statement = self._statement(node)
        if statement is None:
            return None
        result = NodeResult(node, statement)
        raw_sql, masked_calls = self._without_masks(statement)
        decisions = self.engine.check(raw_sql, self.identity)
        if not decisions:
            return result
        full = self.engine.analyze(statement) if masked_calls else None
        result.decision = decisions[0]
        for number, decision in enumerate(decisions):
            facts = decision.facts
            full_facts = full[number] if full and number < len(full) else facts
            governed = self._fully_governed(node, facts)
            self._masks_for(governed)
            result.findings.extend(f for f in decision.findings if f.rule not in REPLACED_RULES and not self._star_read_masked(f, governed)
                                   and not self._own_replacement(node, f))
            lineage = self._lineage(facts.lineage.edges, full_facts.lineage.edges, governed)
            result.lineage.update(lineage)
            result.reads += tuple(facts.reads)
            result.governed += tuple(sorted(governed - set(result.governed)))
            if facts.output_columns:
                result.output_columns = tuple(facts.output_columns)
            if node.selected:
                result.findings.extend(self._unmasked_reads(node, facts, governed))
                result.findings.extend(self._schema_changes(node, facts))
            target = node.relation if node.resource_type in ("model", "seed", "snapshot") else None
            if target is not None and number == 0:
                inflow = self._carry(node, target, facts, lineage)
                if node.selected:
                    result.findings.extend(self._zones(target, inflow))
                if node.resource_type == "seed":
                    self._learn_seed(node)
                elif self._learns(node):
                    self.engine.learn(decision)
            self._note_readers(node, facts, lineage)
        return result

    # -- statements -------------------------------------------------------------------------

    def _statement(self, node: Node) -> str | None:
        kind = node.resource_type
        if kind == "seed":
            if not node.columns or not node.relation:
                return None
            columns = ", ".join(f"{_quote(column, self.dialect)} TEXT" for column in node.columns)
            return f"CREATE OR REPLACE TABLE {self._name(node.relation)} ({columns})"
        if not node.sql or not node.sql.strip():
            return None
        if kind in ("model", "snapshot") and node.relation:
            body = node.sql.strip(" \t\n\r").rstrip(";")  # not str.strip(): control characters stay to be refused
            if kind == "snapshot" or (node.materialized == "incremental" and self._exists(node) and not node.full_refresh):
                # appends to what is there: lineage by name, no replacement of its columns
                return f"CREATE TABLE {self._name(node.relation)} AS {body}" if not self._exists(node) else f"INSERT INTO {self._name(node.relation)} {body}"
            what = "VIEW" if node.materialized in ("view", "materialized_view") else "TABLE"
            return f"CREATE OR REPLACE {what} {self._name(node.relation)} AS {body}"
        return node.sql

    def _own_replacement(self, node: Node, finding: Finding) -> bool:
        """The CREATE OR REPLACE this pre-flight writes for a model or seed stands for dbt's own
        rebuild of that node's relation (checked statement by statement when dbt runs it)."""
        return (finding.rule == "replace_table" and node.resource_type in ("model", "seed") and node.relation is not None
                and finding.object is not None and finding.object.lower() == node.relation.lower())

    def _learn_seed(self, node: Node) -> None:
        """A seed's table has its CSV's columns (types as the warehouse has them, when it does)."""
        known = self.engine.catalog.columns(node.relation) or {}
        lowered = {name.lower(): kind for name, kind in known.items()}
        columns = {column: lowered.get(column.lower(), "UNKNOWN") for column in node.columns}
        if list(columns) != list(known):
            self.engine.catalog.add_table(node.relation, columns)

    def _learns(self, node: Node) -> bool:
        return node.resource_type in ("model", "seed") and not (node.materialized == "incremental" and self._exists(node) and not node.full_refresh)

    def _exists(self, node: Node) -> bool:
        if node.exists is not None:
            return node.exists
        return node.relation is not None and self.engine.catalog.columns(node.relation) is not None

    def _name(self, relation: str) -> str:
        return ".".join(_quote(part, self.dialect) for part in relation.split("."))

    def _without_masks(self, sql: str) -> tuple[str, int]:
        """The SQL with every ``lineage_mask(...)`` replaced by NULL (what reaches the output raw).
        The text test only skips the parse when the name cannot be there."""
        if MASK_FUNCTION not in sql.lower():
            return sql, 0
        try:
            trees = sqlglot.parse(sql, read=self.dialect)
        except (ParseError, TokenError):
            return sql, 0  # the engine reports it unparseable
        count = 0

        def strip(node: exp.Expression) -> exp.Expression:
            nonlocal count
            if isinstance(node, exp.Anonymous) and str(node.this).lower() == MASK_FUNCTION:
                count += 1
                arguments = [arg.name if isinstance(arg, exp.Literal) else "" for arg in node.expressions[1:3]]
                if len(arguments) == 2 and arguments[0]:
                    self.report.mask_calls.add((arguments[0], arguments[1]))
                return exp.Null()
            return node

        statements = [tree.transform(strip).sql(self.dialect) for tree in trees if tree is not None]
        return ";\n".join(statements), count

    # -- governed reads and masks -----------------------------------------------------------

    def _fully_governed(self, node: Node, facts) -> set[str]:
        """Relations every reference to which went through the governed macros (lower-case names)."""
        calls = Counter()
        for node_id in (*node.governed, *self._inlined_governed(facts)):
            relation = self.relations.get(node_id)
            if relation:
                calls[relation.lower()] += 1
        if not calls:
            return set()
        references = Counter()
        tree = facts.expression
        if tree is not None:
            for table in tree.find_all(exp.Table):
                references[_table_name(table)] += 1
        written = {name.lower() for name in facts.writes}
        governed = set()
        for relation, count in calls.items():
            seen = references.get(relation, 0) - (1 if relation in written else 0)
            if 0 < seen <= count or (seen == 0 and relation in {r.lower() for r in facts.reads}):
                governed.add(relation)
        return governed

    def _inlined_governed(self, facts) -> tuple[str, ...]:
        """Governed calls of ephemeral models whose SQL dbt inlined into this node's as CTEs."""
        if not self.ephemeral_governed or facts.expression is None:
            return ()
        ctes = {cte.alias.lower() for cte in facts.expression.find_all(exp.CTE)}
        found: list[str] = []
        for ephemeral, calls in self.ephemeral_governed.items():
            if f"__dbt__cte__{ephemeral.rsplit('.', 1)[-1].lower()}" in ctes:
                found.extend(calls)
        return tuple(found)

    def _masks_for(self, governed: set[str]) -> None:
        """How the governed macros mask each relation read governed, for this identity."""
        for relation in governed:
            if relation in self.report.masks:
                continue
            masks: dict[str, ColumnMask] = {}
            for column in self._column_names(relation):
                hidden = tuple(c.tag for c in self._carried(relation, column).values() if c.raw and not self.planner.sees_raw(c.tag))
                if hidden:
                    mask = self.planner.column_mask(column, tuple(dict.fromkeys(hidden)))
                    if mask is not None:
                        masks[column] = mask
            self.report.masks[relation] = masks

    def _star_read_masked(self, finding: Finding, governed: set[str]) -> bool:
        """A ``select_star_on_classified`` whose ``*`` returns no raw classified value: the read is
        governed and masks every column that carries one for this identity (not in audit mode,
        where governed reads mask nothing)."""
        if finding.rule != "select_star_on_classified" or not finding.object:
            return False
        relation = finding.object.lower()
        if relation not in governed or self.report.mode == "audit":
            return False
        masked = {column.lower() for column in self.report.masks.get(relation, {})}
        for column in self._column_names(relation):
            if column.lower() not in masked and any(carried.raw for carried in self._carried(relation, column).values()):
                return False
        return True

    def _column_names(self, relation: str) -> list[str]:
        known = self.engine.catalog.columns(relation)
        names = list(known) if known else []
        for column in self.report.columns.get(relation, {}):
            if column != WILDCARD and column.lower() not in {name.lower() for name in names}:
                names.append(column)
        for entry in self.engine.classifier.entries:
            if not any(char in entry.column for char in "*?[") and self.engine.classifier.tags(relation, entry.column):
                if entry.column.lower() not in {name.lower() for name in names}:
                    names.append(entry.column)
        return names

    # -- lineage and classifications --------------------------------------------------------

    def _lineage(self, raw_edges, full_edges, governed: set[str]) -> dict[str, dict[str, tuple[str, bool]]]:
        lineage: dict[str, dict[str, tuple[str, bool]]] = {}
        for target, sources in full_edges.items():
            raw_sources = raw_edges.get(target, {})
            out: dict[str, tuple[str, bool]] = {}
            for source, subtype in sources.items():
                relation, _, column = source.rpartition(".")
                masked = source not in raw_sources
                if not masked and relation.lower() in governed and self.report.mode != "audit":
                    # in audit mode the governed reads mask nothing (the plan leaves them as written)
                    masked = column in self.report.masks.get(relation.lower(), {})
                out[source] = (subtype, masked)
            lineage[target] = out
        return lineage

    def _carried(self, relation: str, column: str) -> dict[str, Carried]:
        """Tags a column carries: what the DAG brought, else the policy and column meta (stored raw)."""
        known = self.report.columns.get(relation.lower())
        if known is not None:
            found = dict(known.get(column.lower(), {}))
            for tag, carried in known.get(WILDCARD, {}).items():
                found.setdefault(tag, carried)
            return found
        name = f"{relation}.{column}"
        return {tag: Carried(tag, True, (name,)) for tag in self.engine.classifier.tags(relation, column)}

    def _carry(self, node: Node, target: str, facts, lineage) -> dict[str, dict[str, Carried]]:
        """What the write brings into each target column from its sources (returned: what the zones
        judge), and, for the nodes downstream, that plus the target's own classifications.

        A classification of the column being written is not a source of the write: it labels
        what the column holds, raw unless every value written into it arrives masked. A seed's
        values come from its CSV file as they are, so there its classifications are what it writes.
        """
        inflow: dict[str, dict[str, Carried]] = {}
        names = [column for column in (list(facts.output_columns or ()) or list(node.columns)) if column != "*"]
        for column in names:
            seeded = self.engine.classifier.tags(target, column) if node.resource_type == "seed" else ()
            inflow[column.lower()] = {tag: Carried(tag, True, (f"{target}.{column}",)) for tag in seeded}
        unmasked: set[str] = set()  # target columns some unmasked value reaches
        for target_column, sources in lineage.items():
            column = target_column.rpartition(".")[2].lower()
            found = inflow.setdefault(column, {})
            for source, (_, masked) in sources.items():
                relation, _, source_column = source.rpartition(".")
                carried = self._carried(relation, source_column)
                for tag, item in carried.items():
                    _merge(found, Carried(tag, item.raw and not masked, item.path + (target_column,)))
                if not masked and (not carried or any(item.raw for item in carried.values())):
                    unmasked.add(column)
        if not facts.lineage_complete:
            wildcard: dict[str, Carried] = {}
            for relation in facts.reads:
                for column in self._column_names(relation):
                    for tag, carried in self._carried(relation, column).items():
                        _merge(wildcard, Carried(tag, carried.raw, carried.path + (f"{target}.?",)))
            if wildcard:
                inflow[WILDCARD] = wildcard
        columns = {column: dict(tags) for column, tags in inflow.items()}
        written = {target_column.rpartition(".")[2].lower() for target_column in lineage}
        for column in names:
            raw = column.lower() in unmasked or column.lower() not in written or not facts.lineage_complete
            for tag in self.engine.classifier.tags(target, column):
                _merge(columns.setdefault(column.lower(), {}), Carried(tag, raw, (f"{target}.{column}",)))
        self.report.columns[target.lower()] = columns
        return inflow

    def _note_readers(self, node: Node, facts, lineage) -> None:
        for target, sources in lineage.items():
            column = target.rpartition(".")[2]
            for source in sources:
                self._readers.setdefault(source.lower(), set()).add((node.unique_id, column))
        for table, columns in facts.columns_read.items():
            for column in columns:
                self._readers.setdefault(f"{table}.{column}".lower(), set()).add((node.unique_id, ""))

    # -- findings ---------------------------------------------------------------------------

    def _finding(self, rule: str, message: str, obj: str | None, detail: dict, default: Action | None = None) -> Finding:
        finding = Finding(rule, message, obj, default_action=default, detail=detail)
        return replace(finding, action=self.engine.action_for(finding, self.identity))

    def _zones(self, target: str, inflow: dict[str, dict[str, Carried]]) -> list[Finding]:
        """Raw classified values the write brings into ``target`` outside their tag's zones."""
        zones = self.policy.zones
        if not zones:
            return []
        findings = []
        for column, carried in sorted(inflow.items()):
            for tag, item in sorted(carried.items()):
                breach = zone_breach(zones, tag, target) if item.raw else None
                if breach is None:
                    continue
                if column == WILDCARD:
                    message = (f"writes into {target} from {item.path[0]} ({tag}, raw) and its column lineage is incomplete, "
                               f"so it cannot prove the value stays out; outside {breach.where}")
                    obj = target
                else:
                    message = f"writes raw {tag} into {target}.{column} along {item.describe()}, outside {breach.where}"
                    obj = f"{target}.{column}"
                findings.append(self._finding(
                    "pii_to_unapproved_zone", message, obj,
                    {"tag": tag, "path": list(item.path), "source": item.path[0], "target": obj,
                     "zones": list(breach.zones), "allowed": list(breach.allowed)},
                ))
        return findings

    def _unmasked_reads(self, node: Node, facts, governed: set[str]) -> list[Finding]:
        reads: dict[str, set[str]] = {table: set(columns) for table, columns in facts.columns_read.items()}
        for table in facts.star_reads:
            reads.setdefault(table, set()).update(self._column_names(table))
        findings = []
        for table, columns in sorted(reads.items()):
            if table.lower() in governed:
                continue
            for column in sorted(columns):
                hidden = [c for c in self._carried(table, column).values() if c.raw and not self.planner.sees_raw(c.tag)]
                if not hidden:
                    continue
                tags = ", ".join(sorted({c.tag for c in hidden}))
                findings.append(self._finding(
                    "masking_refused",
                    f"{node.unique_id} reads {table}.{column} ({tags}) raw, which {self.identity.principal} may only see masked, "
                    f"and dbt runs its SQL as compiled: read it through source()/ref() with the lineage_governance override "
                    f"(governed_source, governed_ref) or mask it with lineage_governance.mask()",
                    f"{table}.{column}",
                    {"reason": "unmasked_read", "tags": sorted({c.tag for c in hidden}), "path": list(hidden[0].path)},
                    default=Action.BLOCK,
                ))
        return findings

    def _schema_changes(self, node: Node, facts) -> list[Finding]:
        """Renames and retypes beside the engine's dropped columns (against the live relation)."""
        if node.resource_type not in ("model", "seed") or not node.relation or facts.kind not in ("create_table_as", "create_view", "create_table"):
            return []
        live = self.engine.catalog.columns(node.relation)
        if not live or not facts.output_columns or "*" in facts.output_columns:
            return []
        old = list(live)
        new = list(facts.output_columns)
        new_lower = {name.lower() for name in new}
        old_lower = {name.lower() for name in old}
        findings = []
        new_types = _output_types(facts, self.engine.catalog, self.dialect)
        for position, column in enumerate(old):
            if column.lower() in new_lower:
                before, after = live[column], new_types.get(column.lower())
                if after and before and before.upper() != "UNKNOWN" and _family(before, self.dialect) != _family(after, self.dialect):
                    verdict = type_change(before, after, self.dialect)
                    findings.append(self._finding(
                        "alter_column_type", f"changes the type of {column} of {node.relation} from {before} to {after}",
                        f"{node.relation}.{column}", {"change": verdict, "node": node.unique_id, "column": column},
                        default=Action.WARN if verdict == "widening" else None,
                    ))
                continue
            candidate = new[position] if position < len(new) else None
            if candidate is not None and candidate.lower() not in old_lower:
                findings.append(self._finding(
                    "rename", f"renames column {column} of {node.relation} to {candidate}",
                    f"{node.relation}.{column}", {"node": node.unique_id, "column": column, "new_name": candidate},
                ))
        renamed = {f.detail["column"].lower() for f in findings if f.rule == "rename"}
        if renamed:
            self._renamed.setdefault(node.unique_id, set()).update(renamed)
        return findings

    def _name_users(self) -> None:
        """Drop a dropped column the pre-flight saw renamed, and name who uses changed columns."""
        for result in self.report.results:
            renamed = self._renamed.get(result.node.unique_id, set())
            findings = list(result.findings)
            if renamed:
                findings = [
                    f for f in findings
                    if not (f.rule == "drop_column" and (f.object or "").rpartition(".")[2].lower() in renamed)
                ]
            out = []
            for finding in findings:
                if finding.rule in ("drop_column", "rename", "alter_column_type") and finding.object and result.node.relation:
                    column = finding.object.rpartition(".")[2]
                    users = self._users(result.node.relation, column)
                    self.report.usage.setdefault(result.node.unique_id, {})[column] = users
                    if users:
                        finding = replace(finding, message=f"{finding.message}, used by {', '.join(users)}",
                                          detail={**finding.detail, "used_by": users})
                    else:
                        finding = replace(finding, message=f"{finding.message} (no downstream model or exposure uses it)",
                                          detail={**finding.detail, "used_by": []})
                out.append(finding)
            result.findings = out

    def _users(self, relation: str, column: str) -> list[str]:
        """Downstream node columns (transitively), their contracts and the exposures over them."""
        seen_nodes: dict[str, set[str]] = {}
        queue = [f"{relation}.{column}".lower()]
        visited = set(queue)
        while queue:
            current = queue.pop()
            for node_id, target_column in self._readers.get(current, ()):
                seen_nodes.setdefault(node_id, set())
                if target_column:
                    seen_nodes[node_id].add(target_column)
                    downstream = self.relations.get(node_id)
                    if downstream:
                        key = f"{downstream}.{target_column}".lower()
                        if key not in visited:
                            visited.add(key)
                            queue.append(key)
        own = self.node_of.get(relation.lower())
        seen_nodes.pop(own, None)
        users = []
        for node_id in sorted(seen_nodes):
            columns = ", ".join(sorted(seen_nodes[node_id]))
            contract = " [contract]" if node_id in self.contracts else ""
            users.append(f"{node_id}{contract}" + (f" ({columns})" if columns else ""))
        dependents = set(seen_nodes)
        for exposure, depends in sorted(self.exposures.items()):
            if dependents & set(depends) or (own and own in depends and seen_nodes):
                users.append(exposure)
            elif own and own in depends:
                users.append(f"{exposure} (depends on the model)")
        return users


def _merge(into: dict[str, Carried], carried: Carried) -> None:
    """Keep one path per tag, a raw one when there is one."""
    existing = into.get(carried.tag)
    if existing is None or (carried.raw and not existing.raw):
        into[carried.tag] = carried


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in (table.args.get("catalog"), table.args.get("db"), table.this) if part is not None and part.name).lower()


def _quote(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect)


def _family(type_text: str, dialect: str) -> str:
    try:
        dtype = exp.DataType.build(type_text, dialect=dialect)
    except Exception:
        return type_text.lower()
    if dtype.this in exp.DataType.TEXT_TYPES:
        return "text"
    if dtype.this in exp.DataType.INTEGER_TYPES or dtype.this in exp.DataType.REAL_TYPES:
        return "number"
    if dtype.this in exp.DataType.TEMPORAL_TYPES:
        return "temporal"
    return dtype.this.name.lower()


def _output_types(facts, catalog, dialect: str) -> dict[str, str]:
    """The types of a CREATE ... AS query's outputs, where sqlglot can infer them."""
    tree = facts.expression
    query = getattr(tree, "expression", None) if tree is not None else None
    while isinstance(query, exp.Subquery):
        query = query.this
    if not isinstance(query, exp.Query):
        return {}
    try:
        from sqlglot.optimizer.annotate_types import annotate_types

        typed = annotate_types(query.copy(), schema=catalog.sqlglot_schema(), dialect=dialect)
    except Exception:
        return {}
    out = {}
    for select in typed.selects:
        dtype = select.type
        if dtype is not None and dtype.this not in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
            out[select.alias_or_name.lower()] = dtype.sql(dialect)
    return out
