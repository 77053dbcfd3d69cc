"""`upgrade prefect VERSION [--team TEAM]`: the platform's Prefect first, then team by team.

Without `--team`, the platform's version (the root pyproject's `[tool.jaffle] prefect`) moves and every
lock is re-resolved: the server's and the coordinator's move with it, each team keeps its version (it
may lag the server). A version older than a team's is refused: that team would lead the server. With
`--team`, only that team's lock moves (never past the platform's), then its tests run in its
environment and, when a local platform is up, that team's worker and warm parent start again from the
new environment (every other team's keep running), its deployments are deployed and each is run once as
a canary with the parameters of its last completed run. Each prints what changed in the lock.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jaffle_contract import deployments
from packaging.version import InvalidVersion, Version

from jaffle_ops import admin, versions
from jaffle_ops.commands.build import select
from jaffle_ops.commands.lifecycle import start_workers
from jaffle_ops.deploying import deploy
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.workspace import Team, packages

CANARY_SECONDS = 1800  # a hang guard for the canary run, not a timing


def cmd_upgrade(platform: Platform, args: argparse.Namespace) -> int:
    try:
        version = Version(args.version)
    except InvalidVersion:
        raise PlatformError(f"{args.version!r} is not a version (e.g. 3.9.1)") from None
    oldest = versions.oldest_version(platform.root)
    if version < oldest:
        raise PlatformError(
            f"prefect {version} is older than the oldest the platform supports ({oldest}, [tool.jaffle] "
            "prefect-oldest in pyproject.toml): its runtime is not tested there"
        )
    if args.team:
        return _upgrade_team(platform, select(platform, [args.team], deployable=False)[0], version, args)
    return _upgrade_platform(platform, version)


def _locks(platform: Platform) -> dict[str, dict[str, str]]:
    return {team.name: _pins(team) for team in packages(platform.root)}


def _lock_files(platform: Platform) -> list[Path]:
    return [
        team.package / name
        for team in packages(platform.root)
        for name in ("requirements.lock", "runtime.lock")
    ]


def _pins(team: Team) -> dict[str, str]:
    text = (team.package / "requirements.lock").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE))


def _print_changes(name: str, before: dict[str, str], after: dict[str, str]) -> None:
    changed = sorted(set(before) | set(after))
    lines = [
        f"  {package}: {before.get(package, '-')} -> {after.get(package, '-')}"
        for package in changed
        if before.get(package) != after.get(package)
    ]
    print(f"{name}: {len(lines)} change(s) in its lock" + (":" if lines else ""))
    if lines:
        print("\n".join(lines))


def _lock(platform: Platform, *args: str) -> None:
    done = subprocess.run([sys.executable, str(platform.root / "tools/lock.py"), *args], cwd=platform.root)
    if done.returncode != 0:
        raise PlatformError(
            f"re-locking failed (tools/lock.py {' '.join(args)}); the locks say what was done"
        )


def _recreate(platform: Platform, env: str) -> None:
    """An environment whose lock moved is made again from it (hatch does not see a lock change), at
    its next `hatch run`."""
    subprocess.run(["hatch", "env", "remove", env], cwd=platform.root, check=False)
    print(f"environment {env}: removed, made again from its new lock at its next use")


def _upgrade_platform(platform: Platform, version: Version) -> int:
    ahead = [
        f"{team.name} ({pinned})"
        for team in packages(platform.root)
        if (pinned := versions.team_version(team)) > version
    ]
    if ahead:
        raise PlatformError(
            f"prefect {version} is older than what {', '.join(ahead)} run(s): a team may not be newer than "
            f"the server; move those teams first (`./dev upgrade prefect {version} --team TEAM`)"
        )
    pyproject = platform.root / "pyproject.toml"
    text = pyproject.read_text()
    moved, count = re.subn(r'(?m)^(prefect = )"[^"]*"', rf'\g<1>"{version}"', text, count=1)
    if count != 1:
        raise PlatformError("pyproject.toml has no [tool.jaffle] prefect line to move")
    before = _locks(platform)
    # All or nothing: a resolution that fails (the version does not exist, or is newer than the
    # resolution date allows) puts the version and every lock back as they were.
    kept = {path: path.read_bytes() for path in [pyproject, *_lock_files(platform)]}
    pyproject.write_text(moved)
    try:
        _lock(platform)
    except PlatformError:
        for path, content in kept.items():
            path.write_bytes(content)
        raise PlatformError(f"prefect {version} does not resolve here; nothing was changed") from None
    after = _locks(platform)
    for name in sorted(after):
        _print_changes(name, before[name], after[name])
    for name in sorted(after):
        if after[name] != before[name]:
            _recreate(platform, name)
    # The generated files that name the server's image, made in ops' environment as just re-created.
    subprocess.run(["hatch", "run", "ops:cli", "generate"], cwd=platform.root, check=False)
    print(f"\nThe platform runs prefect {version}; restart it (`./dev down && ./dev up`) to serve it.")
    return 0


def _upgrade_team(platform: Platform, team: Team, version: Version, args: argparse.Namespace) -> int:
    home = versions.platform_version(platform.root)
    if version > home:
        raise PlatformError(
            f"{team.name} may not lead the server: prefect {version} is newer than the platform's {home}; "
            f"upgrade the platform first (`./dev upgrade prefect {version}`)"
        )
    live = admin.healthy(platform)
    if live:
        _refuse_runs_in_flight(platform, team)
    before = _pins(team)
    kept = {path: path.read_bytes() for path in _lock_files(platform) if path.is_relative_to(team.package)}
    try:
        _lock(platform, "--prefect", str(version), team.env)
    except PlatformError:
        for path, content in kept.items():
            path.write_bytes(content)
        raise PlatformError(
            f"prefect {version} does not resolve for {team.name}; its lock is unchanged"
        ) from None
    _print_changes(team.name, before, _pins(team))
    back = f"`./dev upgrade prefect {before.get('prefect')} --team {team.name}` goes back"
    # The team's processes on the local platform run from the environment about to be made again.
    stopped = _stop_team_processes(platform, team) if live else []
    _recreate(platform, team.env)
    try:
        if not args.no_tests:
            tests = subprocess.run(["hatch", "run", f"{team.env}:test", "-q"], cwd=platform.root)
            if tests.returncode != 0:
                raise PlatformError(
                    f"{team.name}'s tests fail on prefect {version} (its lock is moved; {back})"
                )
    finally:
        if stopped:  # started again from the new environment, whatever the tests said
            start_workers(platform, [team])
    if team.deployments:
        _canary(platform, team, back)
    return 0


def _refuse_runs_in_flight(platform: Platform, team: Team) -> None:
    """A team's environment is not made again under its running flow runs."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    names = [deployment["name"] for deployment in team.deployments]
    if not names:
        return
    busy = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    with admin.client(platform) as client:
        running = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=busy))),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names)),
        )
    if running:
        listed = ", ".join(f"{run.name} ({run.state_name})" for run in running)
        raise PlatformError(
            f"{team.name} has flow runs in flight on {platform.api_url}: {listed}; upgrade it when they "
            "have ended (nothing was changed)"
        )


def _stop_team_processes(platform: Platform, team: Team) -> list[str]:
    """Stop the team's process workers and warm parent (they run its environment); the names stopped."""
    if platform.infra != "process":  # a Docker worker runs in ops' environment; deploy builds the image
        return []
    names = [f"worker-{pool}" for pool in team.pools] + [f"warm-{team.env}"]
    stopped = [name for name in names if platform.processes.stop(name)]
    if stopped:
        print(f"stopped     {', '.join(stopped)}: started again from the new environment")
    return stopped


def _canary(platform: Platform, team: Team, back: str) -> None:
    """Deploy the team on the local platform and run each of its deployments once, with the parameters
    of its last completed run (a window known to have data), or its defaults when it has none."""
    if not admin.healthy(platform):
        print(f"canary      no platform at {platform.api_url}: `./dev up`, then run this again to try it")
        return
    deploy(platform, [team])  # the version gate runs here first
    with admin.client(platform) as client:
        for deployment in team.deployments:
            name = deployment["name"]
            found = client.read_deployment_by_name(f"{name}/{name}")
            last = _last_completed(client, found.id)
            replayed = f"the parameters of {last.name}" if last else "its defaults (no completed run yet)"
            print(f"canary      {name}: run with {replayed}")
            run = client.create_flow_run_from_deployment(
                found.id, parameters=last.parameters if last else None, tags=[deployments.CANARY_TAG]
            )
            deadline = time.monotonic() + CANARY_SECONDS
            while not (state := client.read_flow_run(run.id).state) or not state.is_final():
                if time.monotonic() > deadline:
                    raise PlatformError(f"canary {name} did not end within {CANARY_SECONDS} s ({back})")
                time.sleep(2)
            print(f"canary      {name}: {state.type.value} ({platform.ui_url}/runs/flow-run/{run.id})")
            if not state.is_completed():
                raise PlatformError(f"canary {name} ended {state.type.value}: {state.message} ({back})")


def _last_completed(client: Any, deployment_id: Any) -> Any:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    done = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
    found = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(state=done),
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        sort=FlowRunSort.END_TIME_DESC,
        limit=1,
    )
    return found[0] if found else None
