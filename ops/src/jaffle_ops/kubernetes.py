"""The platform on Kubernetes: one prefect-kubernetes work pool per team, and the manifests of a server
on PostgreSQL with one worker per team.

A team's pool runs each flow run as a Job from its base job template: prefect-kubernetes's own,
with what decides what a pod may do fixed by the platform (the team's service account, which mounts no
API token; a non-root user, the team images' uid; no privileges, no privilege escalation, every
capability dropped; a read-only root filesystem with writable /tmp and /work only; the runtime's default
seccomp profile), and the variables a team may set cut down to its image, environment, resources and
run settings. The data root of a cluster is an object store (`JAFFLE_DATA_URL`, with its credentials in
the Prefect Secret block `up` saves): a Job has no host folder to share.

    ./dev kubernetes --write deploy/kubernetes   the shipped manifests, from the workspace's teams
    ./dev deploy --infra kubernetes ...          the pools, and every deployment pointed at its image

No cluster runs here: every team's Job is rendered from its real deployment through prefect-kubernetes's
own template rendering, and it and every shipped manifest are validated against the Kubernetes schemas
(kubernetes-validate) and this module's policy (`problems`). The platform's facts and the objects' builders
are in `kubernetes_objects`, the shipped manifests in `kubernetes_manifests`.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# prefect-kubernetes reaches prefect.utilities.dockerutils, which imports the Docker SDK lazily; when the
# SDK was not imported yet, that loads a second copy of its modules, and this process's
# `except docker.errors.ImageNotFound` (image_builds.py) no longer catches what the engine client raises.
# Importing the SDK first makes the lazy import find it.
import docker  # noqa: F401
from jaffle_ops import workspace
from jaffle_ops.kubernetes_manifests import manifests
from jaffle_ops.kubernetes_objects import (
    CONTAINER_SECURITY,
    IMAGE_UID,
    NAMESPACE,
    POD_SECURITY,
    RUN_ENV,
    SCRATCH,
    run_account,
    scratch_volumes,
    worker_account,
)

# Kubernetes versions the manifests are checked against (kubernetes-validate's bundled schemas).
KUBERNETES_VERSION = "1.33.0"
# What a team's deployment may set on its Kubernetes pool.
TEAM_VARIABLES = (
    "image",
    "image_pull_policy",
    "env",
    "labels",
    "annotations",
    "name",
    "command",
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "backoff_limit",
    "finished_job_ttl",
    "job_watch_timeout_seconds",
    "pod_watch_timeout_seconds",
    "stream_output",
)
# What callers (the CLI, `generated`, tests) read here, some of it defined in the modules beside this one.
__all__ = [
    "HEADER",
    "IMAGE_UID",
    "KUBERNETES_VERSION",
    "NAMESPACE",
    "SCRATCH",
    "TEAM_VARIABLES",
    "job_template",
    "manifests",
    "problems",
    "render",
    "render_job",
    "run_account",
    "validate",
    "worker_account",
    "write",
]


def job_template(team: str) -> dict[str, Any]:
    """The base job template of a team's Kubernetes pool."""
    from prefect_kubernetes.worker import KubernetesWorker

    template: dict[str, Any] = copy.deepcopy(KubernetesWorker.get_default_base_job_template())
    variables = template["variables"]
    variables["properties"] = {k: v for k, v in variables["properties"].items() if k in TEAM_VARIABLES}
    variables["additionalProperties"] = False
    for name, value in workspace.package(workspace.repo_root(), team).run_resources.items():
        variables["properties"][name]["default"] = value
    job = template["job_configuration"]
    for name in ("cluster_config",):
        job.pop(name, None)
    job["namespace"] = NAMESPACE
    manifest = job["job_manifest"]
    manifest["metadata"]["namespace"] = NAMESPACE
    pod = manifest["spec"]["template"]["spec"]
    volumes, mounts = scratch_volumes()
    pod.update(
        {
            "serviceAccountName": run_account(team),
            "automountServiceAccountToken": False,
            "securityContext": copy.deepcopy(POD_SECURITY),
            "volumes": volumes,
        }
    )
    [container] = pod["containers"]
    container.update(
        {
            "securityContext": copy.deepcopy(CONTAINER_SECURITY),
            "volumeMounts": mounts,
            # fixed entries; the worker puts the run's own (Prefect's, the deployment's) before them
            "env": [{"name": k, "value": v} for k, v in RUN_ENV.items()],
        }
    )
    return template


def render_job(template: dict[str, Any], job_variables: dict[str, Any], flow_name: str) -> dict[str, Any]:
    """The Job a worker of this pool would create for one run of a deployment with `job_variables`:
    prefect-kubernetes's own rendering and preparation, as its worker does them."""
    from prefect.client.schemas.objects import Flow, FlowRun
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    async def render() -> dict[str, Any]:
        config = await KubernetesWorkerJobConfiguration.from_template_and_values(template, job_variables)
        run = FlowRun(flow_id=uuid.uuid4(), name="rendered-run", deployment_id=uuid.uuid4())
        config.prepare_for_flow_run(run, flow=Flow(name=flow_name, labels={}))
        return dict(config.job_manifest)

    return asyncio.run(render())


def problems(manifest: dict[str, Any]) -> list[str]:
    """What in a manifest breaks the platform's policy: a container that may run as root, is
    privileged, may gain privileges, keeps capabilities or writes its root filesystem."""
    kind, name = manifest.get("kind", "?"), manifest.get("metadata", {}).get("name") or "(generated)"
    spec = manifest.get("spec", {})
    pod = (spec.get("template") or {}).get("spec") if kind != "Pod" else spec
    if pod is None:
        return []
    out = []
    pod_security = pod.get("securityContext") or {}
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        where = f"{kind} {name} container {container.get('name')}"
        security = container.get("securityContext") or {}
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        if user == 0 or non_root is not True:
            out.append(f"{where} may run as root (runAsNonRoot must be true, runAsUser not 0)")
        if security.get("privileged"):
            out.append(f"{where} is privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where} may escalate its privileges (allowPrivilegeEscalation must be false)")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            out.append(f"{where} keeps Linux capabilities (capabilities.drop must hold ALL)")
        if (security.get("capabilities") or {}).get("add"):
            out.append(f"{where} adds Linux capabilities")
        if security.get("readOnlyRootFilesystem") is not True:
            out.append(f"{where} writes its root filesystem (readOnlyRootFilesystem must be true)")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            out.append(f"{kind} {name} shares the node's namespaces ({flag})")
    for volume in pod.get("volumes", []):
        if "hostPath" in volume:
            out.append(f"{kind} {name} mounts a node folder ({volume.get('name')})")
    return out


def validate(manifest: dict[str, Any]) -> None:
    """Raise naming the resource when a manifest breaks the Kubernetes schema or the policy."""
    import kubernetes_validate

    kind, name = manifest.get("kind", "?"), manifest.get("metadata", {}).get("name") or "(generated)"
    checked = copy.deepcopy(manifest)
    if kind == "Job":
        # prefect-kubernetes requires these two in the pod's spec (its worker refuses a template without
        # them there); the API server drops fields a pod spec does not have, with a warning. Every
        # other field is checked strictly.
        pod = checked.get("spec", {}).get("template", {}).get("spec", {})
        for quirk in ("parallelism", "completions"):
            if pod.get(quirk) == 1:
                del pod[quirk]
    try:
        kubernetes_validate.validate(checked, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        raise ValueError(f"{kind} {name}: {error.message} at {'/'.join(map(str, error.path))}") from None
    found = problems(manifest)
    if found:
        raise ValueError("; ".join(found))


def render(teams: Iterable[str]) -> dict[str, str]:
    """The manifests' files (name -> text), each document validated first."""
    rendered = {}
    for name, documents in manifests(teams).items():
        for document in documents:
            validate(document)
        rendered[name] = HEADER + yaml.safe_dump_all(documents, sort_keys=False)
    return rendered


def write(folder: Path, teams: Iterable[str]) -> list[Path]:
    """Write the manifests (each validated first); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(teams).items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return written


HEADER = "# Generated from the workspace's registry by `./dev generate` (ops/src/jaffle_ops/kubernetes.py).\n"
