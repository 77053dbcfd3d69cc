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
(kubernetes-validate) and this module's policy (`problems`).
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from jaffle_contract import naming

# prefect-kubernetes reaches prefect.utilities.dockerutils, which imports the Docker SDK lazily; when the
# SDK was not imported yet, that loads a second copy of its modules, and this process's
# `except docker.errors.ImageNotFound` (images.py) no longer catches what the engine client raises.
# Importing the SDK first makes the lazy import find it.
import docker  # noqa: F401
from jaffle_ops import recovery, workspace

NAMESPACE = "jaffle"
# The user every team image runs as (docker/platform.Dockerfile's USER; a test keeps the two the same).
IMAGE_UID = 10001
# Kubernetes versions the manifests are checked against (kubernetes-validate's bundled schemas).
KUBERNETES_VERSION = "1.33.0"
# Prefect's own image with prefect-kubernetes, for the workers (the server uses the same release).
PREFECT_IMAGE = "prefecthq/prefect:3.8.8-python3.11-kubernetes"
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


def run_account(team: str) -> str:
    """The service account a team's flow runs use (no API token mounted)."""
    return naming.of(naming.normalise(team)).kubernetes("runs")


def worker_account(team: str) -> str:
    return naming.of(naming.normalise(team)).kubernetes("worker")


def _scratch_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes = [{"name": name, "emptyDir": {}} for name in SCRATCH.values()]
    mounts = [{"name": name, "mountPath": path} for path, name in SCRATCH.items()]
    return volumes, mounts


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
    volumes, mounts = _scratch_volumes()
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


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "jaffle", **labels}}


def _container(
    name: str, image: str, args: list[str], env: dict[str, Any], port: int | None = None
) -> dict[str, Any]:
    _, mounts = _scratch_volumes()
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "args": args,
        "env": [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in env.items()],
        "securityContext": copy.deepcopy(CONTAINER_SECURITY),
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if port:
        container["ports"] = [{"containerPort": port, "name": "http"}]
    return container


def _service(app: str, port: int, target: str) -> dict[str, Any]:
    """A Service in front of the pods labelled `app`, on `port`, to their port named `target`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(app),
        "spec": {"selector": {"app": app}, "ports": [{"port": port, "targetPort": target}]},
    }


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def manifests(teams: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The shipped manifests, by file: the namespace, PostgreSQL, the Prefect server, and per team a
    worker (with the rights to run Jobs and read their pods in the namespace, and no right to any
    Secret) and its runs' service account.

    Secrets are referenced, never shipped: `jaffle-postgres` (`password`), `jaffle-prefect-api`
    (`auth-string`, the server's basic auth)."""
    volumes, _ = _scratch_volumes()
    pod_security = {**POD_SECURITY, "runAsUser": IMAGE_UID, "runAsGroup": IMAGE_UID}
    api = f"http://prefect-server.{NAMESPACE}.svc:4200/api"
    files: dict[str, list[dict[str, Any]]] = {
        "00-namespace.yaml": [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": NAMESPACE,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "app.kubernetes.io/part-of": "jaffle",
                    },
                },
            }
        ]
    }
    postgres_security = {**POD_SECURITY, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999}
    postgres = _container(
        "postgres",
        "postgres:16-bookworm",
        [],
        {
            "POSTGRES_USER": "prefect",
            "POSTGRES_DB": "prefect",
            "POSTGRES_PASSWORD": _secret("jaffle-postgres", "password"),
            "PGDATA": "/var/lib/postgresql/data/pgdata",
        },
        5432,
    )
    postgres.pop("args")
    postgres["ports"] = [{"containerPort": 5432, "name": "postgres"}]
    postgres["volumeMounts"] = [
        {"name": "data", "mountPath": "/var/lib/postgresql/data"},
        {"name": "run", "mountPath": "/var/run/postgresql"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    files["10-postgres.yaml"] = [
        _service("postgres", 5432, "postgres"),
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("postgres"),
            "spec": {
                "serviceName": "postgres",
                "replicas": 1,
                "selector": {"matchLabels": {"app": "postgres"}},
                "template": {
                    "metadata": {"labels": {"app": "postgres"}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": postgres_security,
                        "containers": [postgres],
                        "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}},
                        },
                    }
                ],
            },
        },
    ]
    server = _container(
        "prefect-server",
        PREFECT_IMAGE,
        ["prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200"],
        {
            "HOME": "/work",
            "PREFECT_HOME": "/work/.prefect",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": "/api",
            "JAFFLE_PG_PASSWORD": _secret("jaffle-postgres", "password"),
            "PREFECT_API_DATABASE_CONNECTION_URL": (
                f"postgresql+asyncpg://prefect:$(JAFFLE_PG_PASSWORD)@postgres.{NAMESPACE}.svc:5432/prefect"
            ),
            "PREFECT_SERVER_API_AUTH_STRING": _secret("jaffle-prefect-api", "auth-string"),
            # leases under PREFECT_HOME (a scratch volume: they outlive a container restart, not the pod)
            **recovery.server_environment(),
        },
        4200,
    )
    server["readinessProbe"] = {"httpGet": {"path": "/api/health", "port": "http"}, "periodSeconds": 10}
    files["20-prefect-server.yaml"] = [
        _service("prefect-server", 4200, "http"),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("prefect-server"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "prefect-server"}},
                "template": {
                    "metadata": {"labels": {"app": "prefect-server"}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security,
                        "containers": [server],
                        "volumes": volumes,
                    },
                },
            },
        },
    ]
    for team in teams:
        worker = _container(
            "worker",
            PREFECT_IMAGE,
            ["prefect", "worker", "start", "--pool", team, "--type", "kubernetes", "--name", f"{team}-k8s"],
            {
                "HOME": "/work",
                "PREFECT_HOME": "/work/.prefect",
                "PREFECT_API_URL": api,
                "PREFECT_API_AUTH_STRING": _secret("jaffle-prefect-api", "auth-string"),
                # The runs' Jobs then reference the secret too, instead of carrying it in plain text.
                "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME": "jaffle-prefect-api",
                "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY": "auth-string",
                "PREFECT_KUBERNETES_CLUSTER_UID": NAMESPACE,
            },
        )
        labels = {"app": f"worker-{team}", "jaffle.dev/team": team}
        files[f"30-worker-{team}.yaml"] = [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _meta(run_account(team), **{"jaffle.dev/team": team}),
                "automountServiceAccountToken": False,
            },
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _meta(worker_account(team), **{"jaffle.dev/team": team}),
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta(worker_account(team)),
                "rules": [
                    {
                        "apiGroups": ["batch"],
                        "resources": ["jobs"],
                        "verbs": ["get", "list", "watch", "create", "delete"],
                    },
                    {
                        "apiGroups": [""],
                        "resources": ["pods", "pods/log", "events"],
                        "verbs": ["get", "list", "watch"],
                    },
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(worker_account(team)),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": worker_account(team),
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": worker_account(team), "namespace": NAMESPACE}
                ],
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(f"worker-{team}", **{"jaffle.dev/team": team}),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": f"worker-{team}"}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": worker_account(team),
                            "securityContext": pod_security,
                            "containers": [worker],
                            "volumes": volumes,
                        },
                    },
                },
            },
        ]
    return files


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
