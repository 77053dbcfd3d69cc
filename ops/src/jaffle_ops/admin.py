"""Prefect administration: one client per platform (its own API URL, never a global), the pools,
the warehouse limit and the crash automation every platform needs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
from jaffle_contract.datasets import WAREHOUSE_LIMIT, WAREHOUSE_PASSWORD_BLOCK
from jaffle_data import storage

from jaffle_ops import recovery
from jaffle_ops.local import Platform
from jaffle_ops.settings import OpsSettings
from jaffle_ops.workspace import Team

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


def healthy(platform: Platform) -> bool:
    try:
        return httpx.get(f"{platform.api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def client(platform: Platform) -> SyncPrefectClient:
    """A client of this platform's API (use it as a context manager)."""
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(platform.api_url, auth_string=platform.auth_string, api_key=platform.api_key)


@contextlib.contextmanager
def targeting(platform: Platform) -> Iterator[None]:
    """Prefect calls that find their own client (run_deployment) go to this platform's API here."""
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_KEY,
        PREFECT_API_URL,
        PREFECT_UI_URL,
        temporary_settings,
    )

    updates = {PREFECT_API_URL: platform.api_url, PREFECT_UI_URL: platform.ui_url}
    # the secret of this API only: not a profile's Cloud key, which another server must never see
    secrets = {PREFECT_API_AUTH_STRING: platform.auth_string, PREFECT_API_KEY: platform.api_key}
    with temporary_settings(updates={**updates, **secrets}):
        yield


def ensure_pools_and_limits(
    platform: Platform, teams: list[Team], infra: str | None = None, network: str = "host"
) -> None:
    """Every pool of these teams of the given type (a Docker pool with the platform's template), the
    warehouse limit and the crash automation."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    infra = infra or platform.infra
    template = pool_template(platform, infra, network)
    with client(platform) as prefect:
        for team in teams:
            for pool in team.pools:
                if infra == "kubernetes":  # each team's own: its service account and resources
                    from jaffle_ops import kubernetes

                    template = kubernetes.job_template(team.name)
                _ensure_pool(prefect, pool, infra, template)
        try:
            prefect.read_global_concurrency_limit_by_name(WAREHOUSE_LIMIT)
        except ObjectNotFound:
            try:
                prefect.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=WAREHOUSE_LIMIT, limit=1)
                )
                print(f"limit       created global concurrency limit {WAREHOUSE_LIMIT}=1")
            except ObjectAlreadyExists:
                pass
        for made in recovery.ensure_automations(prefect):
            print(f"automation  {made}: runs silent for too long are marked Crashed")
        from jaffle_ops import alerts

        for changed in alerts.ensure(platform, prefect):
            print(f"alerts      {changed}")


def _ensure_pool(prefect: SyncPrefectClient, pool: str, infra: str, template: dict[str, Any]) -> None:
    """The pool `pool` of type `infra` with `template`. A worker started first may create the pool
    between our read and our create (Prefect's workers create a missing pool, with Prefect's default
    template): that pool is then read again and given the platform's template."""
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    for _attempt in range(3):
        try:
            existing = prefect.read_work_pool(pool)
        except ObjectNotFound:
            try:
                prefect.create_work_pool(WorkPoolCreate(name=pool, type=infra, base_job_template=template))
            except ObjectAlreadyExists:
                continue  # created under us: read it again
            print(f"work pool   created {pool} ({infra})")
            return
        if existing.type == infra:
            if template and existing.base_job_template != template:
                prefect.update_work_pool(pool, WorkPoolUpdate(base_job_template=template))
                print(f"work pool   {pool}: the platform's job template")
            return
        # The infrastructure changed (e.g. `up --infra docker` after a process run).
        prefect.delete_work_pool(pool)
    raise RuntimeError(f"work pool {pool!r} keeps changing under this deploy; is another deploy running?")


def pool_template(platform: Platform, infra: str, network: str = "host") -> dict[str, Any]:
    """The base job template of this platform's pools of `infra` ({} for Prefect's default)."""
    if infra == "process":
        return process_template(warm=platform.launcher == "warm")
    if infra != "docker":
        return {}
    from jaffle_ops.pools import data_mount, docker_template

    data, user = data_mount(platform.docker_data, platform.data_dir, platform.data_url)
    return docker_template(data, network, user=user)


def process_template(warm: bool) -> dict[str, Any]:
    """Prefect's process template; warm, its command is the warm launcher's (a deployment may still
    set its own `command`, as with any process pool)."""
    from jaffle_runtime.launcher import COMMAND
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    if warm:
        template["variables"]["properties"]["command"]["default"] = COMMAND
    return template


def store_secrets(platform: Platform, settings: OpsSettings) -> None:
    """The credentials flows need, from the operator's shell into Prefect Secret blocks (the only way
    they reach a flow run)."""
    from prefect.blocks.system import Secret

    if settings.pg_password is not None:
        with targeting(platform):
            Secret(value=settings.pg_password.get_secret_value()).save(
                WAREHOUSE_PASSWORD_BLOCK, overwrite=True
            )
        print(f"secret      {WAREHOUSE_PASSWORD_BLOCK}: the warehouse password, as a Prefect Secret block")
    options = storage_options(settings)
    if options:
        with targeting(platform):
            Secret(value=options).save(storage.CREDENTIALS_BLOCK, overwrite=True)
        print(
            f"secret      {storage.CREDENTIALS_BLOCK}: the data root's credentials, as a Prefect Secret block"
        )
        if "token" in options:
            print(
                "warning     these are temporary credentials (AWS_SESSION_TOKEN): runs fail once they "
                "expire. Save long-lived keys, or give the workers an identity of their own and no keys"
            )
    elif settings.data_url and settings.aws_profile:
        print(
            f"warning     AWS_PROFILE={settings.aws_profile} is not carried to the workers: their runs use "
            "the credentials s3fs finds on their own machine (export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY to save keys for them)"
        )


def storage_options(settings: OpsSettings) -> dict[str, Any]:
    """s3fs's options for an object-store data root, from the operator's AWS_* variables (empty: a
    local root, or no keys to keep: the workers' own identity then answers)."""
    if not settings.data_url or settings.aws_access_key_id is None or settings.aws_secret_access_key is None:
        return {}
    client = {"endpoint_url": settings.aws_endpoint_url, "region_name": settings.aws_region}
    options: dict[str, Any] = {
        "key": settings.aws_access_key_id.get_secret_value(),
        "secret": settings.aws_secret_access_key.get_secret_value(),
        "client_kwargs": {k: v for k, v in client.items() if v},
    }
    if settings.aws_session_token is not None:
        options["token"] = settings.aws_session_token.get_secret_value()
    return options


def save_catalog(platform: Platform, team: Team) -> str | None:
    """Where the team's datasets live, from its declarations into a Prefect Variable: what a backfill's
    `missing` mode reads the data with, in any environment. None when the team declares none."""
    from jaffle_contract import contracts
    from jaffle_data import coverage
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    declarations = contracts.load(team.name, team.package)
    if not declarations.produces:
        return None
    name, value = f"{coverage.CATALOG_PREFIX}{team.name}", coverage.catalog(declarations)
    with client(platform) as prefect:
        if prefect.read_variable_by_name(name) is None:
            prefect.create_variable(VariableCreate(name=name, value=value))
        else:
            prefect.update_variable(VariableUpdate(name=name, value=value))
    return name


def repair_slots(platform: Platform) -> list[str]:
    """Set the limits' active slots back to what the local server's lease files account for."""
    with client(platform) as prefect:
        return recovery.repair_slots(prefect, platform.lease_dir)


def pause_schedules(platform: Platform, teams: list[Team]) -> list[str]:
    """Pause the schedules of these teams' deployments, and of no other: a server the platform shares
    may hold deployments that are not its own to pause."""
    with client(platform) as prefect:
        return pause_deployments(prefect, [d["name"] for team in teams for d in team.deployments])


def pause_deployments(prefect: SyncPrefectClient, names: list[str]) -> list[str]:
    """Pause each of these deployments (`<name>/<name>`) that has a schedule; the ones paused."""
    from jaffle_contract.deployments import qualified

    paused = []
    for name in names:
        deployment = prefect.read_deployment_by_name(qualified(name))
        if deployment.schedules:
            prefect.pause_deployment(deployment.id)
            paused.append(name)
    return paused


def worker_online(prefect: SyncPrefectClient, pool: str, name: str) -> bool:
    return any(
        w.name == name and str(w.status).endswith("ONLINE") for w in prefect.read_workers_for_work_pool(pool)
    )


def pool_workers(prefect: SyncPrefectClient, pool: str) -> list[tuple[str, str]]:
    """(name, status) of every worker of a pool."""
    return [(w.name, str(w.status).rsplit(".", 1)[-1]) for w in prefect.read_workers_for_work_pool(pool)]
