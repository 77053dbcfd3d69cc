"""The parent's plan, derived from the teams' declared datasets: which deployment waits on which.

Every deployment of every team (the coordinator's own aside) is a child of the parent. A child waits
for the producers of what it reads, and for nothing else: what a deployment reads is the upstream of the
datasets it writes (`[[produces]] upstream`, each dataset's `deployment` naming its writer where a team
has more than one deployment), and a team's `[[consumes]]` that no upstream names is read by every
deployment of the team. What the coordinator gets is a file of its own, `graph.json`, generated here
(`./dev generate`), so it never reads team folders; a test fails while it is stale.

Refused, naming what is wrong: a dataset read that no team produces, a cycle, a dataset whose writer is
not one of its team's deployments, and a team setting that names a deployment it does not have.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaffle_contract import contracts, deployments

from jaffle_ops.errors import PlatformError
from jaffle_ops.workspace import COORDINATOR, Team, teams

GRAPH = "coordinator/src/jaffle_coordinator/graph.json"
DEFAULT_CAP = 2  # cells of a team at once in a backfill, unless the team's `backfill-cap` says otherwise
# The days a team's backfill cells span, unless its `backfill-cell` says otherwise (or "once").
DEFAULT_CELL = 30


@dataclass
class Node:
    name: str  # the deployment (named after its flow)
    team: str
    in_order: bool = False
    writes: list[str] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)
    needs: dict[str, list[str]] = field(default_factory=dict)  # producer -> the datasets read of it


def _nodes(root: Path, packages: Iterable[Team]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for team in packages:
        if team.env == COORDINATOR:
            continue
        deployments = [d["name"] for d in team.deployments]
        in_order = list(team.settings.get("in-order", []))
        unknown = sorted(set(in_order) - set(deployments))
        if unknown:
            raise PlatformError(
                f"{team.package.relative_to(root)}/pyproject.toml: in-order names {unknown}, "
                f"not deployments of {team.env} ({', '.join(deployments)})"
            )
        for name in deployments:
            if name in nodes:
                raise PlatformError(f"the deployment {name!r} is both {nodes[name].team}'s and {team.env}'s")
            nodes[name] = Node(name, team.env, in_order=name in in_order)
        declared = contracts.load(team.env, team.package)
        read_by_someone: set[str] = set()
        for dataset in declared.produces:
            writer = dataset.deployment or (deployments[0] if len(deployments) == 1 else None)
            if writer is None or writer not in deployments:
                raise PlatformError(
                    f"{team.env} declares {dataset.name} "
                    + (f"written by {writer!r}, which is not" if writer else "without `deployment`; name")
                    + f" one of its deployments ({', '.join(deployments)})"
                )
            nodes[writer].writes.append(dataset.name)
            nodes[writer].reads |= set(dataset.upstream)
            read_by_someone |= set(dataset.upstream)
        for consumed in declared.consumes:
            if consumed.name not in read_by_someone:
                for name in deployments:
                    nodes[name].reads.add(consumed.name)
    return nodes


def build(root: Path) -> list[Node]:
    """Every child, each after the children it needs (a topological order, stable by team and by
    deployment within a team)."""
    found = teams(root)
    nodes = _nodes(root, found)
    producer: dict[str, str] = {}
    for node in nodes.values():
        for dataset in node.writes:
            if dataset in producer:
                raise PlatformError(f"{dataset} is produced by both {producer[dataset]} and {node.name}")
            producer[dataset] = node.name
    for node in nodes.values():
        for dataset in sorted(node.reads - set(node.writes)):
            if dataset not in producer:
                raise PlatformError(
                    f"{node.name} ({node.team}) reads {dataset}, which no team produces: declare it under "
                    "[[produces]] in its producer's datasets.toml, or stop reading it"
                )
            node.needs.setdefault(producer[dataset], []).append(dataset)
    ordered: list[Node] = []
    placed: set[str] = set()
    waiting = list(nodes.values())
    while waiting:
        ready = [node for node in waiting if set(node.needs) <= placed]
        if not ready:
            raise PlatformError(f"the datasets' graph has a cycle: {' -> '.join(_cycle(waiting))}")
        for node in ready:
            ordered.append(node)
            placed.add(node.name)
        waiting = [node for node in waiting if node.name not in placed]
    return ordered


def _cycle(nodes: list[Node]) -> list[str]:
    """One cycle among nodes that all wait on one another, as a path that returns to its start."""
    by_name = {node.name: node for node in nodes}
    path, current = [], nodes[0].name
    while current not in path:
        path.append(current)
        current = next(need for need in sorted(by_name[current].needs) if need in by_name)
    return [*path[path.index(current) :], current]


def document(root: Path) -> dict[str, Any]:
    """What the coordinator reads: the children in order, what each needs, and each team's backfill
    settings: its cap, its cells' size, and the parameters every cell of it but the last runs with."""
    ordered = build(root)
    caps = {
        team.env: int(team.settings.get("backfill-cap", DEFAULT_CAP))
        for team in teams(root)
        if team.env != COORDINATOR
    }
    small = {team: cap for team, cap in caps.items() if cap < 1}
    if small:
        raise PlatformError(f"a backfill-cap is a whole number of at least 1, not {small}")
    cells, not_last = {}, {}
    for team in teams(root):
        if team.env == COORDINATOR:
            continue
        try:
            cells[team.env] = deployments.cell_size(team.settings.get("backfill-cell", DEFAULT_CELL))
        except ValueError as error:
            raise PlatformError(
                f"{team.package.relative_to(root)}/pyproject.toml: backfill-cell {error}"
            ) from None
        parameters = team.settings.get("backfill-not-last", {})
        if not isinstance(parameters, dict):
            raise PlatformError(
                f"{team.package.relative_to(root)}/pyproject.toml: backfill-not-last is a table of "
                f"parameters (e.g. {{ docs = false }}), not {parameters!r}"
            )
        if parameters:
            not_last[team.env] = dict(sorted(parameters.items()))
    return {
        "children": [
            {
                "name": node.name,
                "team": node.team,
                "in_order": node.in_order,
                "writes": sorted(node.writes),
                "needs": {need: sorted(read) for need, read in sorted(node.needs.items())},
            }
            for node in ordered
        ],
        "caps": caps,
        "cells": cells,
        "not_last": not_last,
    }


def render(root: Path) -> str:
    header = {"//": "Generated from the teams' datasets.toml and prefect.yaml by `./dev generate`."}
    return json.dumps({**header, **document(root)}, indent=2) + "\n"


def check(root: Path) -> None:
    """Refuse to deploy a plan that cannot run (a cycle, a dataset nobody produces: `build` names it)
    or that the coordinator would not see (its committed graph.json is not what the datasets make)."""
    fresh = render(root)
    committed = root / GRAPH
    if not committed.exists() or committed.read_text() != fresh:
        raise PlatformError(
            f"{GRAPH} is not what the teams' datasets make (a datasets.toml or prefect.yaml changed): "
            "run ./dev generate and commit it"
        )
