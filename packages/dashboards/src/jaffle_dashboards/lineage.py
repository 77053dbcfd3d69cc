"""The lineage view: every dataset of the platform as a node (owner, last materialization, freshness),
every declared upstream as an edge; plain functions, no Prefect.

Its input is the platform's materialization events (see `jaffle_data.lineage`), each carrying its
dataset's declaration, so the page needs no team's code. A dataset's state:
- `failed`: its latest materialization failed;
- `stale`: its last successful one is older than its declared freshness;
- `fresh`: otherwise;
- `unknown`: no materialization seen (a dataset only named as an upstream).

Each node also shows its open alerts (`open_alerts`, from the platform's alert events): a failure alert
holds a dataset back until it materializes successfully after it; a dataset gone stale is open until its
fresh-again alert.

The server keeps events for days, not forever: the view keeps each dataset's latest materialization in
`lineage.json` beside the page and merges new events into it, so a dataset nobody has written for
weeks still shows, as stale.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

STATES = ("failed", "stale", "unknown", "fresh")  # the order the table lists them in
COLOURS = {"fresh": "#2e7d32", "stale": "#ef6c00", "failed": "#c62828", "unknown": "#757575"}
ALERT_COLOUR = "#c62828"
WIDTH, HEIGHT, GAP_X, GAP_Y = 250, 64, 60, 18


@dataclass
class Materialization:
    """One materialization event, as read from the events API."""

    dataset: str
    status: str  # succeeded | failed
    occurred: datetime
    owner: str | None = None
    freshness_hours: float | None = None
    upstream: list[str] = field(default_factory=list)
    location: str | None = None
    run_url: str | None = None


@dataclass
class Alert:
    """One alert event, as read from the events API."""

    kind: str  # failed | stale | recovered
    occurred: datetime
    owner: str  # who it went to
    subject: str
    run_url: str | None = None
    # failed: the datasets it holds back; stale and recovered: the one dataset it is about
    datasets: list[str] = field(default_factory=list)
    dataset_owner: str | None = None  # stale and recovered: the dataset's own team


@dataclass
class Node:
    name: str
    owner: str | None = None
    freshness_hours: float | None = None
    location: str | None = None
    last_success: datetime | None = None
    last_status: str | None = None
    last_at: datetime | None = None
    run_url: str | None = None
    state: str = "unknown"
    alerts: list[Alert] = field(default_factory=list)  # open ones, newest first


@dataclass
class Graph:
    nodes: dict[str, Node]
    edges: set[tuple[str, str]]


def latest(events: list[Materialization]) -> list[Materialization]:
    """Each dataset's latest materialization."""
    found: dict[str, Materialization] = {}
    for event in sorted(events, key=lambda e: e.occurred):
        found[event.dataset] = event
    return sorted(found.values(), key=lambda e: e.dataset)


def save(events: list[Materialization]) -> str:
    return json.dumps([{**asdict(e), "occurred": e.occurred.isoformat()} for e in latest(events)], indent=1)


def load(read: Callable[[], bytes]) -> list[Materialization]:
    """What an earlier drawing kept (`read` returns the saved document); a missing or unreadable one
    is an empty history (the events API still has the last days), never a failed view."""
    try:
        rows = json.loads(read())
        return [Materialization(**{**r, "occurred": datetime.fromisoformat(r["occurred"])}) for r in rows]
    except (OSError, ValueError, TypeError, KeyError):
        return []


def build(events: list[Materialization], now: datetime) -> Graph:
    """Nodes and edges from materializations (any order); the latest one of a dataset wins."""
    nodes: dict[str, Node] = {}
    edges: set[tuple[str, str]] = set()
    for event in sorted(events, key=lambda e: e.occurred):
        node = nodes.setdefault(event.dataset, Node(event.dataset))
        node.owner = event.owner or node.owner
        node.freshness_hours = event.freshness_hours or node.freshness_hours
        node.location = event.location or node.location
        node.last_status, node.last_at, node.run_url = event.status, event.occurred, event.run_url
        if event.status == "succeeded":
            node.last_success = event.occurred
        # The latest declaration of a dataset's upstreams is the one that holds.
        edges = {(up, down) for up, down in edges if down != event.dataset}
        edges |= {(up, event.dataset) for up in event.upstream}
    for up, _ in edges:
        nodes.setdefault(up, Node(up))
    for node in nodes.values():
        node.state = state_of(node, now)
    return Graph(nodes, edges)


def succeeded(events: list[Materialization]) -> dict[str, datetime]:
    """Each dataset's latest successful materialization."""
    found: dict[str, datetime] = {}
    for event in sorted(events, key=lambda e: e.occurred):
        if event.status == "succeeded":
            found[event.dataset] = event.occurred
    return found


def open_alerts(alerts: list[Alert], successes: dict[str, datetime]) -> dict[str, list[Alert]]:
    """The alerts still open, by dataset, newest first: a failure alert for each dataset it holds back
    that has not materialized successfully since (`successes`: each dataset's latest); a stale alert
    when it is the dataset's latest stale or fresh-again one. The same change of freshness goes to the
    dataset's owner and to each reader: the owner's copy stands for them."""
    found: dict[str, list[Alert]] = {}
    freshness: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: a.occurred):
        for dataset in alert.datasets:
            if alert.kind != "failed":
                freshness.setdefault(dataset, []).append(alert)
            elif (done := successes.get(dataset)) is None or done <= alert.occurred:
                found.setdefault(dataset, []).append(alert)
    for dataset, said in freshness.items():
        last = []  # the stale alerts after the last fresh-again one
        for alert in reversed(said):
            if alert.kind != "stale":
                break
            last.append(alert)
        if last:
            owners = [a for a in last if a.owner == a.dataset_owner]
            found.setdefault(dataset, []).append((owners or last)[0])
    return {d: sorted(a, key=lambda a: a.occurred, reverse=True) for d, a in sorted(found.items())}


def attach(graph: Graph, alerts: dict[str, list[Alert]]) -> None:
    """Give each node its open alerts; a dataset the view has not seen yet gets a node of its own."""
    for dataset, open_ in alerts.items():
        graph.nodes.setdefault(dataset, Node(dataset)).alerts = list(open_)


def state_of(node: Node, now: datetime) -> str:
    if node.last_status == "failed":
        return "failed"
    if node.last_success is None:
        return "unknown"
    if node.freshness_hours is not None and now - node.last_success > timedelta(hours=node.freshness_hours):
        return "stale"
    return "fresh"


def layers(graph: Graph) -> list[list[str]]:
    """Columns left to right: a dataset sits one column right of its furthest upstream; within a
    column, datasets are ordered by where their upstreams are (fewer crossing edges), then by name."""
    depth: dict[str, int] = {}

    def of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            ups = [u for u, d in graph.edges if d == name and u not in seen]
            depth[name] = 1 + max((of(u, seen | {name}) for u in ups), default=-1)
        return depth[name]

    for name in graph.nodes:
        of(name)
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in sorted(graph.nodes):
        columns[depth[name]].append(name)
    if not columns:
        return columns

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("inf")

    def forward(row: dict[str, float]) -> None:
        for column in columns[1:]:
            for name in column:
                row[name] = mean([row[u] for u, d in graph.edges if d == name and u in row])
            column.sort(key=lambda n: (row[n], n))
            row.update({name: i for i, name in enumerate(column)})

    row: dict[str, float] = {name: i for i, name in enumerate(columns[0])}
    forward(row)
    # then the sources follow what they feed, and the columns after them follow the sources again
    columns[0].sort(key=lambda n: (mean([row[d] for u, d in graph.edges if u == n]), n))
    row = {name: i for i, name in enumerate(columns[0])}
    forward(row)
    return columns


def _age(node: Node, now: datetime) -> str:
    if node.last_at is None:
        return "never materialized"
    hours = (now - node.last_at).total_seconds() / 3600
    if hours < 1:
        return f"{max(hours * 60, 0):.0f} min ago"
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def svg(graph: Graph, now: datetime) -> str:
    if not graph.nodes:
        return "<p>No dataset has been materialized yet: run the platform (./dev run).</p>"
    columns = layers(graph)
    where: dict[str, tuple[int, int]] = {}
    for x, column in enumerate(columns):
        for y, name in enumerate(column):
            where[name] = (20 + x * (WIDTH + GAP_X), 20 + y * (HEIGHT + GAP_Y))
    width = 40 + len(columns) * (WIDTH + GAP_X) - GAP_X
    height = 40 + max((len(c) for c in columns), default=0) * (HEIGHT + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" role="img" aria-label="dataset lineage graph">'
    ]
    for up, down in sorted(graph.edges):
        (x1, y1), (x2, y2) = where[up], where[down]
        x1, y1, y2 = x1 + WIDTH, y1 + HEIGHT / 2, y2 + HEIGHT / 2
        middle = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" data-from="{html.escape(up)}" data-to="{html.escape(down)}" '
            f'd="M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}" fill="none" stroke="#90a4ae" '
            'stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    parts.insert(
        1,
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#90a4ae"/></marker></defs>',
    )
    for name, (x, y) in sorted(where.items()):
        node = graph.nodes[name]
        colour = COLOURS[node.state]
        owner = node.owner or "owner unknown"
        said = "".join(f"\n{a.owner}: {a.subject}" for a in node.alerts)
        parts.append(
            f'<g class="node {node.state}" data-dataset="{html.escape(name)}" data-state="{node.state}" '
            f'data-alerts="{len(node.alerts)}">'
            f"<title>{html.escape(name)}: {node.state}{html.escape(said)}</title>"
            f'<rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="8" fill="#fff" stroke="{colour}" '
            f'stroke-width="{3 if node.state in ("stale", "failed") else 1.5}"/>'
            f'<text x="{x + 10}" y="{y + 22}" font-weight="600" font-size="12.5">{html.escape(name)}</text>'
            f'<text x="{x + 10}" y="{y + 41}" font-size="12" fill="#555">{html.escape(owner)}</text>'
            f'<text x="{x + 10}" y="{y + 59}" font-size="12" fill="{colour}">'
            f"{node.state} · {html.escape(_age(node, now))}</text>{_badge(node, x, y)}</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _badge(node: Node, x: int, y: int) -> str:
    """A node's open alerts: a red disc on its top right corner with their number; none, nothing."""
    if not node.alerts:
        return ""
    cx, cy = x + WIDTH - 4, y + 4
    return (
        f'<g class="alert-badge"><circle cx="{cx}" cy="{cy}" r="11" fill="{ALERT_COLOUR}"/>'
        f'<text x="{cx}" y="{cy + 4}" text-anchor="middle" font-size="12" font-weight="700" fill="#fff">'
        f"{len(node.alerts)}</text></g>"
    )


def _alerts_cell(node: Node) -> str:
    """Each open alert: its owner and subject, linking the run it names."""
    shown = []
    for alert in node.alerts:
        subject = html.escape(alert.subject)
        linked = f'<a href="{html.escape(alert.run_url)}">{subject}</a>' if alert.run_url else subject
        shown.append(f'<span class="alert">{html.escape(alert.owner)}: {linked}</span>')
    return "<br>".join(shown)


def table(graph: Graph, now: datetime) -> str:
    rows = []
    for name in sorted(graph.nodes, key=lambda n: (STATES.index(graph.nodes[n].state), n)):
        node = graph.nodes[name]
        ups = sorted(u for u, d in graph.edges if d == name)
        last = node.last_at.strftime("%Y-%m-%d %H:%M UTC") if node.last_at else ""
        run = f'<a href="{html.escape(node.run_url)}">run</a>' if node.run_url else ""
        freshness = f"{node.freshness_hours:g} h" if node.freshness_hours else ""
        rows.append(
            f'<tr class="{node.state}" data-dataset="{html.escape(name)}"><td>{html.escape(name)}</td>'
            f"<td>{html.escape(node.owner or '')}</td><td>{node.state}</td>"
            f"<td>{last} {run}</td><td>{html.escape(_age(node, now))}</td><td>{freshness}</td>"
            f"<td>{html.escape(', '.join(ups))}</td><td>{html.escape(node.location or '')}</td>"
            f'<td class="open-alerts">{_alerts_cell(node)}</td></tr>'
        )
    return (
        "<table><thead><tr><th>dataset</th><th>owner</th><th>state</th><th>last materialization</th>"
        "<th>age</th><th>expected within</th><th>upstream</th><th>location</th><th>open alerts</th></tr>"
        "</thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def page(graph: Graph, now: datetime) -> str:
    counts = {s: sum(1 for n in graph.nodes.values() if n.state == s) for s in STATES}
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    alerted = sum(1 for n in graph.nodes.values() if n.alerts)
    summary += f"; {alerted} with open alerts" if alerted else ""
    style = "".join(f".{s} td:nth-child(3){{color:{c};font-weight:600}}" for s, c in COLOURS.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Jaffle Shop data lineage</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;margin-top:1.5rem}}td,th{{border-bottom:1px solid #ddd;padding:.3rem .6rem;
text-align:left;font-size:.9rem}}.graph{{overflow-x:auto}}.alert{{color:{ALERT_COLOUR}}}{style}</style></head>
<body><h1>Data lineage</h1>
<p id="summary">{len(graph.nodes)} datasets, {len(graph.edges)} edges: {summary}. As of
{now.strftime("%Y-%m-%d %H:%M UTC")}, from the platform's materialization events. A dataset is stale when
its last successful materialization is older than its declared freshness. An open alert (the red
count) is a failure that holds the dataset back until it is materialized again, or a stale alert not yet
followed by its fresh-again one.</p>
<div class="graph">{svg(graph, now)}</div>
{table(graph, now)}
</body></html>
"""
