"""The platform's Kubernetes facts, and small builders of the objects its manifests are made of.

What a pod of the platform may do is written here once and read by both the team pools' Job template
(`kubernetes.job_template`) and the shipped manifests (`kubernetes_manifests`): the namespace, the
images' user, the security contexts, the writable folders on a read-only root.
"""

from __future__ import annotations

import copy
from importlib.metadata import version
from typing import Any

from jaffle_contract import naming

from jaffle_ops.settings import DEFAULT_PORT

NAMESPACE = "jaffle"
# The user every team image runs as. docker/platform.Dockerfile cannot import it and keeps a copy as its
# JAFFLE_UID build argument's default; a test holds the two the same.
IMAGE_UID = 10001
# Prefect's own image with prefect-kubernetes, for the workers and the server: the Prefect release this
# environment locks, so a relock that moves Prefect makes the shipped manifests stale until regenerated.
PREFECT_IMAGE = f"prefecthq/prefect:{version('prefect')}-python3.11-kubernetes"
# The in-cluster server listens on Prefect's own default port, as the local one does.
SERVER_PORT = DEFAULT_PORT
PART_OF = {"app.kubernetes.io/part-of": "jaffle"}
TEAM_LABEL = "jaffle.dev/team"
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": IMAGE_UID,
    "runAsGroup": IMAGE_UID,
    "fsGroup": IMAGE_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
# Writable places on a read-only root: scratch, and the work folder (dbt's build, cached warehouses).
SCRATCH = {"/tmp": "tmp", "/work": "work"}
RUN_ENV = {"HOME": "/work", "JAFFLE_WORK_DIR": "/work", "PREFECT_HOME": "/work/.prefect"}
# What a platform container asks for unless it says otherwise.
RESOURCES: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


def run_account(team: str) -> str:
    """The service account a team's flow runs use (no API token mounted)."""
    return naming.of(naming.normalise(team)).kubernetes("runs")


def worker_account(team: str) -> str:
    return naming.of(naming.normalise(team)).kubernetes("worker")


def scratch_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The scratch volumes of a pod, and their mounts in a container."""
    volumes: list[dict[str, Any]] = [{"name": name, "emptyDir": {}} for name in SCRATCH.values()]
    mounts: list[dict[str, Any]] = [{"name": name, "mountPath": path} for path, name in SCRATCH.items()]
    return volumes, mounts


def meta(name: str, team: str | None = None) -> dict[str, Any]:
    """An object's metadata in the platform's namespace, labelled with its team when it has one."""
    labels = {**PART_OF, **({TEAM_LABEL: team} if team else {})}
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def secret(name: str, key: str) -> dict[str, Any]:
    """An environment value read from a Secret: referenced, never shipped."""
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def container(
    name: str,
    image: str,
    env: dict[str, Any],
    *,
    args: list[str] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    port: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """A container under the platform's policy; `env` values are plain strings or `secret(...)`s,
    `mounts` default to the scratch folders, `port` is (number, name)."""
    made: dict[str, Any] = {"name": name, "image": image}
    if args is not None:
        made["args"] = args
    made["env"] = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in env.items()]
    made["securityContext"] = copy.deepcopy(CONTAINER_SECURITY)
    made["volumeMounts"] = mounts if mounts is not None else scratch_volumes()[1]
    made["resources"] = copy.deepcopy(RESOURCES)
    if port:
        made["ports"] = [{"containerPort": port[0], "name": port[1]}]
    return made


def service(app: str, port: int, target: str) -> dict[str, Any]:
    """A Service in front of the pods labelled `app`, on `port`, to their port named `target`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(app),
        "spec": {"selector": {"app": app}, "ports": [{"port": port, "targetPort": target}]},
    }


def workload(
    kind: str,
    app: str,
    pod: dict[str, Any],
    *,
    team: str | None = None,
    service_name: str | None = None,
    claims: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Deployment or StatefulSet of one replica of `pod`, whose pods carry the label `app` (and the
    team's); a StatefulSet names its Service and its volume claims."""
    spec: dict[str, Any] = {"serviceName": service_name} if service_name else {}
    spec["replicas"] = 1
    spec["selector"] = {"matchLabels": {"app": app}}
    labels = {"app": app, **({TEAM_LABEL: team} if team else {})}
    spec["template"] = {"metadata": {"labels": labels}, "spec": pod}
    if claims:
        spec["volumeClaimTemplates"] = claims
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta(app, team), "spec": spec}
