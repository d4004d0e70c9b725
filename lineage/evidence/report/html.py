"""One self-contained HTML page for people (auditors, data owners): no script, no network.

Per run: the identity, each statement with its decision, masked columns, blocked attempts,
approvals, and the run's lineage graph; on top, the ledger's verification and a summary.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from html import escape
from typing import Any

from lineage.evidence.report.collect import Graph, RunView
from lineage.evidence.report.svg import render as render_svg

ACTION_COLORS = {
    "allow": "#27ae60",
    "warn": "#d4a017",
    "mask": "#e67e22",
    "require_approval": "#8e44ad",
    "block": "#c0392b",
}

CSS = """
body { font: 14px/1.45 -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2933; margin: 0; background: #eef1f4; }
header { background: #2c3e50; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
main { padding: 18px 28px 40px; }
section.card { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); margin: 0 0 18px; padding: 14px 18px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: #3e4c59; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid #e4e7eb; }
th { color: #52606d; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; max-height: 9em; overflow: auto; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; }
.muted { color: #7b8794; }
.ok { color: #27ae60; font-weight: 600; }
.broken { color: #c0392b; font-weight: 600; }
.stats { display: flex; gap: 22px; flex-wrap: wrap; }
.stat b { display: block; font-size: 22px; }
.graph { overflow-x: auto; border: 1px solid #e4e7eb; border-radius: 6px; padding: 6px; background: #fcfdfe; }
.legend span { margin-right: 16px; }
svg text { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
svg text.dataset-name { font-weight: 700; }
svg text.edge-label { font-size: 11px; font-weight: 700; }
svg text.tag { font-size: 10px; }
svg text.refused-label { font-size: 11px; font-weight: 700; }
"""


def badge(action: str) -> str:
    color = ACTION_COLORS.get(action, "#52606d")
    return f'<span class="badge" style="background:{color}">{escape(action)}</span>'


def render(runs: list[RunView], verification: Any | None, ledger_url: str, sources: list[str]) -> str:
    statements = [s for run in runs for s in run.statements]
    actions = Counter(s.action for s in statements)
    approvals = [a for run in runs for a in run.approvals]
    combined = Graph()
    for run in runs:
        combined.merge(run.graph)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>lineage-governance report</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>lineage-governance report</h1>",
        f'<div>{len(runs)} run(s), {len(statements)} governed statement(s). Generated {generated} from <code>{escape(ledger_url)}</code>'
        + (f" and {len(sources)} event file(s)" if sources else "")
        + "</div></header><main>",
        '<section class="card" id="summary"><h2>Summary</h2><div class="stats">',
        *[f'<div class="stat"><b>{actions.get(action, 0)}</b>{badge(action)}</div>' for action in ACTION_COLORS],
        f'<div class="stat"><b>{sum(1 for a in approvals if a["kind"] == "approval_approved")}</b>approved</div>',
        f'<div class="stat"><b>{sum(len(s.masked_columns) for s in statements)}</b>masked column reads</div>',
        "</div>",
        _verification(verification),
        "</section>",
        '<section class="card" id="lineage"><h2>Lineage across all runs</h2>',
        _legend(),
        f'<div class="graph">{render_svg(combined, "lineage across all runs")}</div></section>',
    ]
    for run in runs:
        parts.append(_run(run))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _verification(verification: Any | None) -> str:
    if verification is None:
        return '<p class="muted">Ledger not verified.</p>'
    if verification.ok:
        return (
            f'<p>Ledger: <span class="ok">verified</span>: {verification.records} record(s), hash chain intact; '
            f"head record {verification.head_seq}, <code>{escape(verification.head_hash[:24])}...</code></p>"
        )
    return f'<p>Ledger: <span class="broken">BROKEN at record {verification.broken_seq}</span>: {escape(verification.problem or "")}</p>'


def _legend() -> str:
    return (
        '<p class="legend muted"><span><b style="color:#c0392b">&#9679;</b> classified column (hover for tags)</span>'
        '<span><b style="color:#e67e22">- - -</b> masked on read</span>'
        '<span><b style="color:#c0392b">&middot;&middot;&middot; / &#10007;</b> attempted by a refused statement (did not run)</span></p>'
    )


def _run(run: RunView) -> str:
    identity = run.identity
    attributes = identity.get("attributes") or {}
    rows = [
        ("run id", identity.get("run_id")),
        ("job", run.title),
        ("principal", identity.get("principal")),
        ("actor", identity.get("actor")),
        ("groups", ", ".join(identity.get("groups") or []) or None),
        ("environment", identity.get("environment")),
        ("source", identity.get("source")),
        ("parent run", identity.get("parent_run_id")),
        ("database user", identity.get("database_user")),
        *[(key, value) for key, value in sorted(attributes.items()) if not isinstance(value, (list, dict))],
    ]
    out = [
        f'<section class="card run" id="run-{escape(run.run_id)}">',
        f"<h2>{escape(run.title)} <span class=\"muted\">{escape(run.first_time)}</span></h2>",
        "<table>",
        *[f"<tr><th>{escape(str(k))}</th><td><code>{escape(str(v))}</code></td></tr>" for k, v in rows if v not in (None, "")],
        "</table>",
        "<h3>Statements</h3>",
    ]
    if run.statements:
        out.append("<table><tr><th>#</th><th>decision</th><th>statement</th><th>reads &rarr; writes</th><th>findings / masked</th><th>outcome</th></tr>")
        for statement in run.statements:
            findings = "".join(
                f"<div>{badge(f.get('action', '?'))} <b>{escape(f.get('rule', ''))}</b>: {escape(f.get('message', ''))}</div>"
                for f in statement.findings
                if f.get("action") != "allow"
            )
            masked = "".join(f'<div><span class="badge" style="background:#e67e22">masked</span> <code>{escape(column)}</code></div>' for column in statement.masked_columns)
            outcome = _outcome(statement)
            action = badge(statement.action) + ("" if statement.effective_action == statement.action else f'<div class="muted">audit: ran as {escape(statement.effective_action)}</div>')
            out.append(
                f"<tr><td>{statement.seq}</td><td>{action}</td><td><pre>{escape(statement.sql)}</pre></td>"
                f"<td><code>{escape(', '.join(statement.reads) or '-')}</code> &rarr; <code>{escape(', '.join(statement.writes) or '-')}</code></td>"
                f"<td>{findings}{masked}</td><td>{outcome}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="muted">No statements recorded.</p>')
    if run.approvals:
        out.append("<h3>Approvals</h3><table><tr><th>seq</th><th>step</th><th>request</th><th>by</th><th>why</th></tr>")
        for approval in run.approvals:
            who = approval.get("decided_by") or approval.get("requester")
            out.append(
                f"<tr><td>{approval['seq']}</td><td>{escape(approval['kind'].replace('approval_', ''))}</td><td><code>{escape(str(approval.get('id')))}</code></td>"
                f"<td>{escape(str(who))}</td><td>{escape(', '.join(approval.get('reasons') or []))}</td></tr>"
            )
        out.append("</table>")
    out.append("<h3>Lineage</h3>")
    out.append(f'<div class="graph">{render_svg(run.graph, run.title)}</div>')
    out.append("</section>")
    return "\n".join(out)


def _outcome(statement) -> str:
    if statement.phase == "refused":
        if statement.action == "require_approval":
            return '<span class="muted">held for approval (did not run)</span>'
        return '<span class="broken">refused (did not run)</span>'
    if statement.phase == "failed":
        return f'<span class="broken">failed</span><div class="muted">{escape(statement.error or "")}</div>'
    details = []
    if statement.rows is not None and statement.rows >= 0:
        details.append(f"{statement.rows} row(s)")
    if statement.duration_ms is not None:
        details.append(f"{statement.duration_ms:.1f} ms")
    if statement.approval:
        details.append(f"approval {escape(str(statement.approval.get('id')))}")
    return '<span class="ok">ran</span>' + (f'<div class="muted">{escape(", ".join(details))}</div>' if details else "")
