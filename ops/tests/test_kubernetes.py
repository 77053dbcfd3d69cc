"""Kubernetes pools and manifests, checked as a cluster would (no cluster runs here): each team's Job
rendered by prefect-kubernetes from its pool's template, every manifest against the Kubernetes schemas
and the platform's policy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from jaffle_ops import kubernetes, recovery
from jaffle_ops.workspace import package, teams
from prefect.utilities.schema_tools import ValidationError, validate

ROOT = Path(__file__).resolve().parents[2]
TEAMS = [team.name for team in teams(ROOT)]


def _job(team: str, template: dict | None = None, **variables) -> dict:
    values = {"image": f"registry.example/jaffle-{team}:0123abcd", **variables}
    return kubernetes.render_job(template or kubernetes.job_template(team), values, f"{team}-flow")


@pytest.mark.parametrize("team", TEAMS)
def test_each_teams_job_is_a_valid_job_that_runs_as_the_team_with_no_privilege(team):
    job = _job(team, env={"JAFFLE_DATA_URL": "s3://jaffle/data"})
    kubernetes.validate(job)
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert job["metadata"]["namespace"] == kubernetes.NAMESPACE
    assert (
        pod["serviceAccountName"] == kubernetes.run_account(team)
        and pod["automountServiceAccountToken"] is False
    )
    assert pod["securityContext"]["runAsUser"] == kubernetes.IMAGE_UID
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == f"registry.example/jaffle-{team}:0123abcd"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["JAFFLE_DATA_URL"] == "s3://jaffle/data" and env["JAFFLE_WORK_DIR"] == "/work"
    assert "PREFECT__FLOW_RUN_ID" in env  # what the worker adds for the run, kept
    assert container["resources"]["limits"]["memory"] == package(ROOT, team).run_resources["memory_limit"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == set(kubernetes.SCRATCH)


def test_a_deployment_may_not_ask_for_another_account_namespace_or_cluster():
    variables = kubernetes.job_template("ml-forecast")["variables"]
    for asked in ({"service_account_name": "default"}, {"namespace": "kube-system"}, {"cluster_config": {}}):
        with pytest.raises(ValidationError, match="Additional properties are not allowed"):
            validate({"image": "x", **asked}, variables, raise_on_error=True, preprocess=True)
    validate({"image": "x", "memory_limit": "16Gi", "env": {"A": "1"}}, variables, raise_on_error=True)


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda c, p: c["securityContext"].update(privileged=True), "is privileged"),
        (lambda c, p: p["securityContext"].update(runAsUser=0), "may run as root"),
        (lambda c, p: c["securityContext"].update(runAsNonRoot=False), "may run as root"),
        (
            lambda c, p: c["securityContext"].update(readOnlyRootFilesystem=False),
            "writes its root filesystem",
        ),
        (lambda c, p: c["securityContext"].update(allowPrivilegeEscalation=True), "escalate"),
        (
            lambda c, p: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
            "adds Linux capabilities",
        ),
        (lambda c, p: p.update(hostPID=True), "hostPID"),
        (
            lambda c, p: p["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
            "mounts a node folder",
        ),
    ],
)
def test_a_template_that_gives_a_run_a_way_onto_the_node_fails_the_check(change, named):
    template = copy.deepcopy(kubernetes.job_template("dbt-transform"))
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    change(pod["containers"][0], pod)
    with pytest.raises(ValueError, match=named):
        kubernetes.validate(_job("dbt-transform", template))


def test_a_manifest_the_kubernetes_schema_refuses_is_named():
    job = _job("ml-forecast")
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = "no"
    with pytest.raises(ValueError, match=r"Job .*'no' is not of type 'boolean'"):
        kubernetes.validate(job)


def test_the_shipped_manifests_are_the_generated_ones_and_each_is_valid(tmp_path):
    written = {p.name: p.read_text() for p in kubernetes.write(tmp_path, TEAMS)}
    shipped = {p.name: p.read_text() for p in (ROOT / "deploy/kubernetes").glob("*.yaml")}
    assert shipped == written, "deploy/kubernetes is stale: ./dev kubernetes --write deploy/kubernetes"
    kinds = [d["kind"] for text in shipped.values() for d in yaml.safe_load_all(text)]
    assert kinds.count("Deployment") == len(TEAMS) + 1  # a worker per team, and the server
    [server] = [d for d in yaml.safe_load_all(shipped["20-prefect-server.yaml"]) if d["kind"] == "Deployment"]
    [container] = server["spec"]["template"]["spec"]["containers"]
    given = {entry["name"]: entry.get("value") for entry in container["env"]}
    assert recovery.server_environment().items() <= given.items()  # as `up` starts its server
    assert "StatefulSet" in kinds and "Namespace" in kinds
    for text in shipped.values():
        for document in yaml.safe_load_all(text):
            kubernetes.validate(document)
            pod = document.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                for entry in container.get("env", []):
                    if entry["name"] in (
                        "JAFFLE_PG_PASSWORD",
                        "PREFECT_API_AUTH_STRING",
                        "POSTGRES_PASSWORD",
                    ) or (entry["name"].endswith("_AUTH_STRING") and "SECRET" not in entry["name"]):
                        assert "valueFrom" in entry and "value" not in entry, entry  # secrets are referenced


def test_rendering_a_job_leaves_one_docker_sdk_in_the_process():
    """prefect-kubernetes imports the Docker SDK lazily: with a second copy loaded, the image builds that
    follow in the same process (`deploy --infra kubernetes`) stop catching the engine's errors."""
    import subprocess
    import sys

    script = (
        "from jaffle_ops import kubernetes; kubernetes.job_template('ml-forecast');"
        "from docker.errors import ImageNotFound; import docker.api.client as client;"
        "raised = client.create_api_error_from_http_exception.__globals__['ImageNotFound'];"
        "assert raised is ImageNotFound, 'the engine client raises another copy of ImageNotFound'"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_workers_may_run_jobs_but_read_no_secret_and_put_none_in_a_job():
    for name, documents in kubernetes.manifests(TEAMS).items():
        for document in documents:
            if document["kind"] == "Role":
                resources = {r for rule in document["rules"] for r in rule["resources"]}
                assert "secrets" not in resources, name
            if document["kind"] == "Deployment" and name.startswith("30-worker-"):
                [worker] = document["spec"]["template"]["spec"]["containers"]
                env = {e["name"]: e.get("value") for e in worker["env"]}
                # the worker puts a reference to the API's secret in each Job, not its value
                assert (
                    env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME"]
                    == "jaffle-prefect-api"
                )
                assert (
                    env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY"] == "auth-string"
                )
