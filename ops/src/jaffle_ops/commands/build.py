"""`deploy`, `images`, `affected`: what a team ships, and which teams a change touches."""

from __future__ import annotations

import argparse
import json

from jaffle_contract import naming

from jaffle_ops import admin, dataset_graph
from jaffle_ops.deploying import deploy
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.settings import OpsSettings
from jaffle_ops.workspace import Team, packages, teams


def select(platform: Platform, names: list[str], deployable: bool = True) -> list[Team]:
    """Packages by name (all when none are named); a clear error for unknown ones."""
    known = teams(platform.root) if deployable else packages(platform.root)
    # a team may be named by its folder too (`dbt_transform` is `dbt-transform`)
    wanted = {naming.normalise(name): name for name in names}
    unknown = [name for key, name in wanted.items() if key not in {naming.normalise(t.name) for t in known}]
    if unknown:
        raise PlatformError(f"unknown package(s) {sorted(unknown)}; known: {[t.name for t in known]}")
    return [t for t in known if not names or naming.normalise(t.name) in wanted]


def cmd_deploy(platform: Platform, args: argparse.Namespace) -> int:
    selected = select(platform, args.teams)
    dataset_graph.check(platform.root)  # the parent's plan: runnable, and the one the coordinator reads
    if not admin.healthy(platform):
        raise platform.no_server()
    infra = args.infra or platform.infra
    if args.docker_network != "host" and infra != "docker":
        raise PlatformError("--docker-network applies to Docker infrastructure: add --infra docker")
    if args.registry and infra not in ("docker", "kubernetes"):
        raise PlatformError("--registry applies to images: add --infra docker or --infra kubernetes")
    admin.ensure_pools_and_limits(platform, selected, infra, args.docker_network)
    admin.store_secrets(platform, OpsSettings())
    deploy(platform, selected, args.paused_schedules, infra)
    return 0


def cmd_images(platform: Platform, args: argparse.Namespace) -> int:
    from jaffle_ops import images

    for team in select(platform, args.teams, deployable=False):
        built = images.build(
            platform.root, team.env, team.package, platform.base_image, images.host_ca_bundle()
        )
        how = "cached" if built.cached else f"built in {built.seconds:.1f}s"
        print(f"{team.env:<12}{built.tag}  {how}, {built.size_bytes / 1e6:.0f} MB", flush=True)
        if platform.registry:
            print(f"{'':<12}pushed {images.push(built.tag, platform.registry)}", flush=True)
        if args.prune:
            pruned = images.prune(team.env, built.tag)
            for tag in pruned.removed:
                print(f"{'':<12}removed {tag}")
            for tag in pruned.in_use:
                print(f"{'':<12}kept {tag}: a container uses it (docker rm it, then prune again)")
    return 0


def cmd_affected(platform: Platform, args: argparse.Namespace) -> int:
    from jaffle_ops.affected import affected

    try:
        found = affected(platform.root, args.since)
    except ValueError as error:
        raise PlatformError(str(error)) from None
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        for team in found.teams:
            files = [r for r in found.reasons[team] if r in found.changed]
            why = [f"{len(files)} changed file(s), e.g. {files[0]}"] if files else []
            why += [r for r in found.reasons[team] if r not in found.changed]
            print(f"{team:<12}{'; '.join(why)}")
        if not found.teams:
            print(f"no team is affected by the {len(found.changed)} file(s) changed since {args.since}")
    return 0


def cmd_generate(platform: Platform, args: argparse.Namespace) -> int:
    """Make the files generated from the registry (CODEOWNERS, compose workers, Kubernetes manifests)."""
    from jaffle_ops import generated

    if args.check:
        stale = generated.stale(platform.root)
        for path in stale:
            print(f"stale       {path}")
        if stale:
            raise PlatformError(f"{len(stale)} generated file(s) differ from the registry: ./dev generate")
        print(f"current     {len(generated.files(platform.root))} generated files")
        return 0
    changed = generated.write(platform.root)
    for path in changed:
        print(f"wrote       {path}")
    if not changed:
        print("current     nothing to write")
    return 0


def cmd_new_team(platform: Platform, args: argparse.Namespace) -> int:
    """A new team package, built the way the others are (`scaffold`)."""
    from jaffle_ops import scaffold

    for path in scaffold.create(platform.root, args.name, args.reads):
        print(f"wrote       {path}")
    team = naming.of(naming.normalise(args.name)).team
    print(
        f"\nTeam {team} is in the workspace. Next:\n"
        f"  hatch run {team}:test      its tests and the contract tests, in its own environment\n"
        f"  ./dev up                    serves its pool; ./dev run runs it after what it reads\n"
        f"  git add packages/{naming.normalise(args.name)} pyproject.toml .github deploy docker coordinator"
    )
    return 0


def cmd_kubernetes(platform: Platform, args: argparse.Namespace) -> int:
    """The cluster's manifests for this workspace's teams, each validated (schema and policy)."""
    from jaffle_ops import kubernetes

    names = [team.name for team in teams(platform.root)]
    if args.write:
        for path in kubernetes.write(args.write, names):
            print(f"wrote       {path}")
        return 0
    found = kubernetes.manifests(names)
    for documents in found.values():
        for document in documents:
            kubernetes.validate(document)
    print(f"valid       {sum(len(d) for d in found.values())} manifests in {len(found)} files")
    return 0
