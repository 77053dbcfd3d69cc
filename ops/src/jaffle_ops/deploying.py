"""Registering a package's deployments from its prefect.yaml, inside that package's own environment; on
Docker infrastructure, pointing them at the package's image."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from jaffle_ops import admin, recovery, versions
from jaffle_ops.environments import hatch_env_path
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.workspace import Team


def deploy(
    platform: Platform,
    selected: list[Team],
    paused: bool = False,
    infra: str | None = None,
) -> None:
    """`prefect deploy --all` in each team's environment; on Docker, build that team's image (only
    that team's) and point its deployments at it."""
    infra = infra or platform.infra
    if infra == "kubernetes":
        check_cluster_settings(platform)
    # No team is deployed while one of them is newer than the server (a newer client is rejected).
    versions.gate(versions.server_version(platform), selected)
    for team in selected:
        env_bin = hatch_env_path(team.env) / "bin"
        started = time.monotonic()
        result = subprocess.run(
            [str(env_bin / "prefect"), "--no-prompt", "deploy", "--all"],
            cwd=team.package,
            env=platform.environ(env_bin),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PlatformError(f"deploying {team.package.name} failed:\n{result.stdout}\n{result.stderr}")
        names = [d["name"] for d in team.deployments]
        if infra in ("docker", "kubernetes"):
            # `prefect deploy --all` ignores --job-variable, so point the deployments at the image here.
            from prefect.client.schemas.actions import DeploymentUpdate

            variables = docker_job_variables(platform, team)
            if infra == "kubernetes":
                variables = kubernetes_job_variables(platform, variables)
            with admin.client(platform) as prefect:
                for name in names:
                    deployment = prefect.read_deployment_by_name(f"{name}/{name}")
                    prefect.update_deployment(deployment.id, DeploymentUpdate(job_variables=variables))
        catalog = admin.save_catalog(platform, team)
        print(f"deployed    {team.package.name}: {', '.join(names)} ({time.monotonic() - started:.1f}s)")
        if catalog:
            print(f"catalog     {catalog}: where its datasets live (a Prefect Variable)")
    if paused:
        print(f"paused      {', '.join(admin.pause_schedules(platform, selected)) or 'no schedules'}")
    from jaffle_ops import standalone  # (imports prefect: only when deploying)

    # After the deploys: its automation runs the alert deployment, by its id.
    with admin.client(platform) as prefect:
        for changed in standalone.ensure(platform.root, prefect):
            print(f"alerts      {changed}")


def docker_job_variables(platform: Platform, team: Team) -> dict[str, Any]:
    """Run this team's flows in its image (the pool's template fixes the network, the data mount, the
    user and the container's privileges: `pools.py`)."""
    from jaffle_ops import images  # the Docker SDK, only where images are built

    built = images.build(
        platform.root,
        team.env,
        team.package,
        base_image=platform.base_image,
        ca_bundle=images.host_ca_bundle(),
    )
    print(f"image       {built.tag} ({'cached' if built.cached else f'built in {built.seconds:.0f}s'})")
    image, pull = built.tag, "Never"  # built on this engine; no registry to pull from
    if platform.registry:
        # IfNotPresent: the tag hashes the team's files, so a cached copy holds the same files
        image, pull = images.push(built.tag, platform.registry), "IfNotPresent"
        print(f"pushed      {image}")
    return {
        "image": image,
        "image_pull_policy": pull,
        "env": {
            "JAFFLE_DATA_DIR": "/data",
            **({"JAFFLE_DATA_URL": platform.data_url} if platform.data_url else {}),
            **recovery.flow_run_environment(),
        },
        "stream_output": True,
        "auto_remove": True,  # each run records its container id in its runtime artifact
    }


def check_cluster_settings(platform: Platform) -> None:
    """What a cluster's runs need before anything is built: a registry to pull the team images from,
    and the data root on an object store (a Job has no host folder to share)."""
    if not platform.registry:
        raise PlatformError(
            "a cluster pulls its images from a registry: add --registry (or JAFFLE_REGISTRY), e.g. "
            "--registry ghcr.io/acme"
        )
    if not platform.data_url:
        raise PlatformError(
            "a Kubernetes pool's runs need the data root on an object store: set JAFFLE_DATA_URL "
            "(e.g. s3://bucket/jaffle) and the AWS_* credentials `up` keeps in a Prefect Secret block"
        )


def kubernetes_job_variables(platform: Platform, docker: dict[str, Any]) -> dict[str, Any]:
    """The same image and environment for a Kubernetes pool's Job (whose template fixes the rest):
    pulled from the registry when there is one. A cluster has no host folder to share: its data root is
    an object store (JAFFLE_DATA_URL)."""
    env = {k: v for k, v in docker["env"].items() if k != "JAFFLE_DATA_DIR"}
    return {"image": docker["image"], "image_pull_policy": "IfNotPresent", "env": env}
