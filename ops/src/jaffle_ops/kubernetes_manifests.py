"""The shipped manifests, by file: the namespace, PostgreSQL, the Prefect server, and per team a worker
(with the rights to run Jobs and read their pods in the namespace, and no right to any Secret) and its
runs' service account. Each object is a small function of the platform's facts (`kubernetes_objects`).

Secrets are referenced, never shipped: `jaffle-postgres` (`password`), `jaffle-prefect-api`
(`auth-string`, the server's basic auth).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from jaffle_ops import recovery
from jaffle_ops.kubernetes_objects import (
    NAMESPACE,
    PART_OF,
    POD_SECURITY,
    PREFECT_IMAGE,
    SERVER_PORT,
    container,
    meta,
    run_account,
    scratch_volumes,
    secret,
    service,
    worker_account,
    workload,
)

POSTGRES_IMAGE = "postgres:16-bookworm"
POSTGRES_PORT = 5432
POSTGRES_UID = 999  # the official image's postgres user
POSTGRES_DATA = "/var/lib/postgresql/data"
PG_PASSWORD = ("jaffle-postgres", "password")
API_SECRET = ("jaffle-prefect-api", "auth-string")
SERVER = "prefect-server"
API_URL = f"http://{SERVER}.{NAMESPACE}.svc:{SERVER_PORT}/api"
# A worker creates and removes its runs' Jobs and reads their pods; it reads no Secret.
WORKER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list", "watch"]},
]


def namespace() -> dict[str, Any]:
    """The namespace, held to the `restricted` pod security standard."""
    labels = {"pod-security.kubernetes.io/enforce": "restricted", **PART_OF}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}}


def postgres() -> list[dict[str, Any]]:
    """The server's database: one StatefulSet replica on a claimed volume, as the image's own user."""
    mounts = [
        {"name": "data", "mountPath": POSTGRES_DATA},
        {"name": "run", "mountPath": "/var/run/postgresql"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    env = {
        "POSTGRES_USER": "prefect",
        "POSTGRES_DB": "prefect",
        "POSTGRES_PASSWORD": secret(*PG_PASSWORD),
        "PGDATA": f"{POSTGRES_DATA}/pgdata",
    }
    database = container("postgres", POSTGRES_IMAGE, env, mounts=mounts, port=(POSTGRES_PORT, "postgres"))
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {
            **POD_SECURITY,
            **dict.fromkeys(("runAsUser", "runAsGroup", "fsGroup"), POSTGRES_UID),
        },
        "containers": [database],
        "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    return [
        service("postgres", POSTGRES_PORT, "postgres"),
        workload("StatefulSet", "postgres", pod, service_name="postgres", claims=[claim]),
    ]


def server() -> list[dict[str, Any]]:
    """The Prefect server on PostgreSQL, behind its basic auth, with a Service in front."""
    env = {
        "HOME": "/work",
        "PREFECT_HOME": "/work/.prefect",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": "/api",
        "JAFFLE_PG_PASSWORD": secret(*PG_PASSWORD),
        "PREFECT_API_DATABASE_CONNECTION_URL": (
            f"postgresql+asyncpg://prefect:$(JAFFLE_PG_PASSWORD)@postgres.{NAMESPACE}.svc:{POSTGRES_PORT}/prefect"
        ),
        "PREFECT_SERVER_API_AUTH_STRING": secret(*API_SECRET),
        # leases under PREFECT_HOME (a scratch volume: they outlive a container restart, not the pod)
        **recovery.server_environment(),
    }
    args = ["prefect", "server", "start", "--host", "0.0.0.0", "--port", str(SERVER_PORT)]
    made = container(SERVER, PREFECT_IMAGE, env, args=args, port=(SERVER_PORT, "http"))
    made["readinessProbe"] = {"httpGet": {"path": "/api/health", "port": "http"}, "periodSeconds": 10}
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": copy.deepcopy(POD_SECURITY),
        "containers": [made],
        "volumes": scratch_volumes()[0],
    }
    return [service(SERVER, SERVER_PORT, "http"), workload("Deployment", SERVER, pod)]


def worker_accounts(team: str) -> list[dict[str, Any]]:
    """The team's runs' account (no API token), its worker's, and the worker's rights."""
    account = worker_account(team)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(run_account(team), team),
            "automountServiceAccountToken": False,
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(account, team)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(account),
            "rules": copy.deepcopy(WORKER_RULES),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(account),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        },
    ]


def worker(team: str) -> dict[str, Any]:
    """The team's Kubernetes worker, polling its pool."""
    env = {
        "HOME": "/work",
        "PREFECT_HOME": "/work/.prefect",
        "PREFECT_API_URL": API_URL,
        "PREFECT_API_AUTH_STRING": secret(*API_SECRET),
        # The runs' Jobs then reference the secret too, instead of carrying it in plain text.
        "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME": API_SECRET[0],
        "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY": API_SECRET[1],
        "PREFECT_KUBERNETES_CLUSTER_UID": NAMESPACE,
    }
    args = ["prefect", "worker", "start", "--pool", team, "--type", "kubernetes", "--name", f"{team}-k8s"]
    pod = {
        "serviceAccountName": worker_account(team),
        "securityContext": copy.deepcopy(POD_SECURITY),
        "containers": [container("worker", PREFECT_IMAGE, env, args=args)],
        "volumes": scratch_volumes()[0],
    }
    return workload("Deployment", f"worker-{team}", pod, team=team)


def manifests(teams: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The shipped manifests' documents, by file name."""
    files = {
        "00-namespace.yaml": [namespace()],
        "10-postgres.yaml": postgres(),
        "20-prefect-server.yaml": server(),
    }
    for team in teams:
        files[f"30-worker-{team}.yaml"] = [*worker_accounts(team), worker(team)]
    return files
