from __future__ import annotations

import asyncio

import httpx
import pytest
from jaffle_ops import server

WRITERS = 8
RUNS_EACH = 10
POLLERS = 4


async def _hammer(api: str) -> tuple[list[str], str]:
    """Writers creating runs and moving them to Completed while pollers poll and heartbeat, as a
    busy platform does; no client retries, so every 'database is locked' would show as a 503."""
    failures: list[str] = []

    async with httpx.AsyncClient(base_url=api, timeout=120) as client:

        async def call(method: str, path: str, body: object) -> httpx.Response:
            response = await client.request(method, path, json=body)
            if response.status_code >= 300:
                failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return response

        await call("POST", "/work_pools/", {"name": "busy", "type": "process"})
        flow = (await call("POST", "/flows/", {"name": "busy"})).json()
        deployment = await call(
            "POST",
            "/deployments/",
            {"name": "busy", "flow_id": flow["id"], "work_pool_name": "busy", "entrypoint": "busy.py:busy"},
        )
        deployment_id = deployment.json()["id"]
        writing = True

        async def writer() -> None:
            for _ in range(RUNS_EACH):
                created = await call("POST", f"/deployments/{deployment_id}/create_flow_run", {})
                if created.status_code != 201:
                    continue
                run = created.json()["id"]
                for state in ("PENDING", "RUNNING", "COMPLETED"):
                    await call("POST", f"/flow_runs/{run}/set_state", {"state": {"type": state}})
                log = {"name": "busy", "level": 20, "message": "row", "timestamp": "2026-01-01T00:00:00Z"}
                await call("POST", "/logs/", [{**log, "flow_run_id": run}])

        async def poller(index: int) -> None:
            while writing:
                await call("POST", "/work_pools/busy/get_scheduled_flow_runs", {})
                await call("POST", "/work_pools/busy/workers/heartbeat", {"name": f"worker-{index}"})
                await asyncio.sleep(0.2)

        pollers = [asyncio.create_task(poller(i)) for i in range(POLLERS)]
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        writing = False
        await asyncio.gather(*pollers)
        return failures, deployment_id


@pytest.mark.integration
def test_concurrent_writers_never_meet_a_locked_database(platform_server):
    api, log = platform_server
    failures, deployment_id = asyncio.run(_hammer(api))
    assert failures == []
    ours = {"deployments": {"id": {"any_": [deployment_id]}}}
    runs = httpx.post(f"{api}/flow_runs/filter", json=ours).json()
    assert len(runs) == WRITERS * RUNS_EACH
    assert {run["state_type"] for run in runs} == {"COMPLETED"}
    assert "database is locked" not in log.read_text()


def test_only_a_sqlite_server_changes_its_transactions(monkeypatch, tmp_path):
    from prefect.server.database.dependencies import MODELS_DEPENDENCIES
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings

    monkeypatch.setitem(MODELS_DEPENDENCIES, "database_config", None)
    with temporary_settings(
        {PREFECT_API_DATABASE_CONNECTION_URL: "postgresql+asyncpg://u:p@127.0.0.1/prefect"}
    ):
        assert server.install() is False
    assert MODELS_DEPENDENCIES["database_config"] is None
    with temporary_settings(
        {PREFECT_API_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{tmp_path}/prefect.db"}
    ):
        assert server.install() is True
    assert type(MODELS_DEPENDENCIES["database_config"]).__name__ == "ImmediateSqliteConfiguration"
