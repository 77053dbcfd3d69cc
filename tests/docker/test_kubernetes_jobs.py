"""Kubernetes pools for real, without a cluster (none can run here): `up --infra kubernetes` registers a
prefect-kubernetes pool per team and every deployment on it, pointed at its team's image; each
deployment's Job is then rendered from what the server holds (the pool's template, the deployment's
job variables) through prefect-kubernetes's own rendering, and validated against the Kubernetes schemas
and the platform's policy. What is not run: a cluster, its workers and the Jobs themselves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jaffle_ops.workspace import teams

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.integration]
BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")


def test_every_deployments_job_renders_from_the_server_and_validates(
    engine, registry, launch_platform, platform_client, run_cli, tmp_path
):
    from jaffle_ops import kubernetes

    env = {
        "JAFFLE_BASE_IMAGE": BASE,
        "JAFFLE_DATA_URL": "s3://jaffle/data",
        "JAFFLE_REGISTRY": registry.address,
    }
    # Not shared: its pools are Kubernetes pools, which no other test's platform has.
    _, home, port = launch_platform("--infra", "kubernetes", "--paused-schedules", env=env)
    # what a cluster cannot do without: refused before anything is built
    refused = run_cli("--home", home, "--port", port, "deploy", "ml-forecast", "--infra", "kubernetes")
    assert refused.returncode == 2 and "a cluster pulls its images from a registry" in refused.stderr
    assert not list((home / "pids").glob("worker-*.json"))  # the workers run in the cluster
    client = platform_client(home, port)
    deployments = client.read_deployments()
    assert len(deployments) == sum(len(team.deployments) for team in teams(ROOT))  # every team's, once
    for deployment in deployments:
        pool = client.read_work_pool(deployment.work_pool_name)
        assert pool.type == "kubernetes", pool.name
        job = kubernetes.render_job(pool.base_job_template, deployment.job_variables, deployment.name)
        kubernetes.validate(job)
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == deployment.job_variables["image"]
        # the team's image, built by this deploy and pushed to the registry the cluster pulls from
        assert container["image"].startswith(f"{registry.address}/jaffle-{pool.name}:"), container["image"]
        name, _, tag = container["image"].removeprefix(f"{registry.address}/").partition(":")
        assert tag in registry.tags(name)
        assert container["imagePullPolicy"] == "IfNotPresent"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["JAFFLE_DATA_URL"] == "s3://jaffle/data" and "JAFFLE_DATA_DIR" not in env
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == kubernetes.run_account(pool.name)
