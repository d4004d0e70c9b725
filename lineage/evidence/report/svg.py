"""The lineage graph as inline SVG: tables as boxes listing their columns, edges between columns.

    Graph(datasets={"raw.customers": ["id", "email"], "mart.c": ["email"]},
          edges=[Edge(("raw.customers", "email"), ("mart.c", "email"), masked=True)])
    -> <svg ...> two boxes left to right, a dashed orange edge labelled "masked: email" </svg>

Layered left to right by the longest path from a source table; classified columns are
marked in red with their tags as a tooltip; masked edges are dashed orange; what a refused
statement tried is a dotted red table-to-table edge and a dashed red box. No script, no external resource.
"""

from __future__ import annotations

from html import escape

from lineage.evidence.report.collect import Edge, Graph

BOX_WIDTH = 250
GAP_X = 140
ROW = 17
HEADER = 24
PAD = 8
GAP_Y = 26
MAX_COLUMNS = 30

COLOR_EDGE = "#5b6b7f"
COLOR_MASKED = "#e67e22"
COLOR_BLOCKED = "#c0392b"
COLOR_CLASSIFIED = "#c0392b"


def _layers(graph: Graph) -> dict[str, int]:
    """Longest-path depth of every dataset in the dataset-level graph (cycles cut)."""
    parents: dict[str, set[str]] = {name: set() for name in graph.datasets}
    for edge in graph.edges:
        if edge.source[0] != edge.target[0]:
            parents.setdefault(edge.target[0], set()).add(edge.source[0])
            parents.setdefault(edge.source[0], set())
    depth: dict[str, int] = {}

    def visit(name: str, trail: frozenset) -> int:
        if name in depth:
            return depth[name]
        if name in trail:
            return 0
        value = max((visit(parent, trail | {name}) + 1 for parent in parents.get(name, ())), default=0)
        depth[name] = value
        return value

    for name in parents:
        visit(name, frozenset())
    return depth


def _shown_columns(graph: Graph, dataset: str) -> tuple[list[str], int]:
    columns = graph.datasets.get(dataset, [])
    involved = {e.source[1] for e in graph.edges if e.source[0] == dataset} | {e.target[1] for e in graph.edges if e.target[0] == dataset}
    involved |= {column for (name, column) in graph.classified if name == dataset}
    if len(columns) <= MAX_COLUMNS:
        return columns, 0
    chosen = [column for column in columns if column in involved][:MAX_COLUMNS]
    return chosen, len(columns) - len(chosen)


def render(graph: Graph, title: str = "lineage") -> str:
    if not graph.datasets:
        return '<p class="muted">No lineage recorded for this run.</p>'
    depth = _layers(graph)
    layers: dict[int, list[str]] = {}
    for name in sorted(graph.datasets):
        layers.setdefault(depth.get(name, 0), []).append(name)
    boxes: dict[str, tuple[float, float, float, list[str], int]] = {}
    height = 0.0
    for level, names in sorted(layers.items()):
        y = PAD
        x = PAD + level * (BOX_WIDTH + GAP_X)
        for name in names:
            columns, hidden = _shown_columns(graph, name)
            box_height = HEADER + ROW * (len(columns) + (1 if hidden else 0)) + PAD
            boxes[name] = (x, y, box_height, columns, hidden)
            y += box_height + GAP_Y
        height = max(height, y)
    width = PAD * 2 + (max(layers) + 1) * BOX_WIDTH + max(layers) * GAP_X
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage-graph" role="img" aria-label="{escape(title)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        "<defs>"
        f'<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{COLOR_EDGE}"/></marker>'
        f'<marker id="arrow-masked" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{COLOR_MASKED}"/></marker>'
        f'<marker id="arrow-blocked" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{COLOR_BLOCKED}"/></marker>'
        "</defs>",
    ]
    for edge in graph.edges:
        parts.append(_edge(edge, boxes))
    for name, (x, y, box_height, columns, hidden) in boxes.items():
        parts.append(_box(graph, name, x, y, box_height, columns, hidden))
    parts.append("</svg>")
    return "\n".join(part for part in parts if part)


def _anchor(boxes, node, side: str) -> tuple[float, float] | None:
    dataset, column = node
    if dataset not in boxes:
        return None
    x, y, box_height, columns, _ = boxes[dataset]
    if column is None:
        row_y = y + box_height / 2
    elif column in columns:
        row_y = y + HEADER + ROW * columns.index(column) + ROW / 2
    else:
        row_y = y + HEADER / 2
    return (x + BOX_WIDTH if side == "right" else x), row_y


def _edge(edge: Edge, boxes) -> str:
    start = _anchor(boxes, edge.source, "right")
    end = _anchor(boxes, edge.target, "left")
    if start is None or end is None:
        return ""
    (x1, y1), (x2, y2) = start, end
    if x2 <= x1:  # same layer (a table feeding itself): loop around
        x2 = x2 - 4
    bend = max(40.0, (x2 - x1) / 2)
    path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    if edge.blocked:
        klass, color, marker, dash, label = "edge blocked", COLOR_BLOCKED, "arrow-blocked", ' stroke-dasharray="2 4"', "blocked"
    elif edge.masked:
        klass, color, marker, dash, label = "edge masked", COLOR_MASKED, "arrow-masked", ' stroke-dasharray="7 4"', "masked"
    else:
        klass, color, marker, dash, label = "edge", COLOR_EDGE, "arrow", "", None
    describe = f"{edge.source[0]}.{edge.source[1] or '*'} -> {edge.target[0]}.{edge.target[1] or '*'}" + (f" ({label}{': ' + edge.strategy if edge.masked and edge.strategy else ''})" if label else "")
    out = [
        f'<g class="{klass}"><title>{escape(describe)}</title>'
        f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{2.2 if edge.masked or edge.blocked else 1.4}"{dash} marker-end="url(#{marker})"/>'
    ]
    if label:  # next to where the edge leaves its column, so labels of parallel edges do not pile up
        out.append(f'<text x="{x1 + 6:.1f}" y="{y1 - 3:.1f}" class="edge-label" fill="{color}">{escape(label)}</text>')
    out.append("</g>")
    return "".join(out)


def _box(graph: Graph, name: str, x: float, y: float, box_height: float, columns: list[str], hidden: int) -> str:
    refused = graph.refused_targets.get(name)
    border = f'stroke="{COLOR_BLOCKED}" stroke-width="2" stroke-dasharray="5 3"' if refused else 'stroke="#9aa7b5"'
    out = [
        f'<g class="dataset{" refused" if refused else ""}" data-name="{escape(name)}">',
        f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{box_height}" rx="6" fill="#f7f9fb" {border}/>',
        f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{HEADER - 4}" rx="6" fill="#2c3e50"/>',
        f'<text x="{x + 8}" y="{y + 14}" class="dataset-name" fill="#ffffff">{escape(_short(name, 34))}<title>{escape(name)}</title></text>',
    ]
    for index, column in enumerate(columns):
        tags = graph.classified.get((name, column))
        row_y = y + HEADER + ROW * index + ROW * 0.7
        if tags:
            out.append(
                f'<text x="{x + 10}" y="{row_y:.1f}" class="column classified" fill="{COLOR_CLASSIFIED}">&#9679; {escape(column)}'
                f'<title>{escape(name)}.{escape(column)}: {escape(", ".join(tags))}</title></text>'
                f'<text x="{x + BOX_WIDTH - 8}" y="{row_y:.1f}" class="tag" fill="{COLOR_CLASSIFIED}" text-anchor="end">{escape(_short(", ".join(tags), 20))}</text>'
            )
        else:
            out.append(f'<text x="{x + 10}" y="{row_y:.1f}" class="column">{escape(column)}</text>')
    if refused:
        out.append(
            f'<text x="{x + BOX_WIDTH - 6}" y="{y + 14}" class="refused-label" fill="#ffb3a7" text-anchor="end">&#10007; refused'
            f'<title>writes refused: {escape(", ".join(refused))}</title></text>'
        )
    if hidden:
        row_y = y + HEADER + ROW * len(columns) + ROW * 0.7
        out.append(f'<text x="{x + 10}" y="{row_y:.1f}" class="column muted">... {hidden} more column(s)</text>')
    out.append("</g>")
    return "".join(out)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3):]
