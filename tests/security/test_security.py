"""Only holders of the platform's secret get in, and nothing secret leaks out: a real platform, attacked
from outside (an unauthenticated client, a wrong secret, another origin, a request without its CSRF
token), and a caller's shell full of secrets that must not reach the platform's processes or logs."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import time
from pathlib import Path

import httpx
import pytest
from jaffle_contract import deployments
from jaffle_contract.datasets import WAREHOUSE_PASSWORD_BLOCK

pytestmark = [pytest.mark.integration, pytest.mark.security]
PARENT = deployments.qualified(deployments.DATA_PLATFORM)
# What a developer's shell holds and no flow should see: a cloud key, a database password, a token.
CALLER = {
    "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
    "JAFFLE_PG_PASSWORD": secrets.token_hex(16),
    "GITHUB_TOKEN": secrets.token_hex(16),
}


@pytest.fixture(scope="module")
def platform(launch_platform):
    # Not shared: its attacks rotate the secret and leave what they tried in its logs and server.
    return launch_platform("--paused-schedules", env=CALLER)


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def secret_of(home: Path) -> str:
    from jaffle_ops.secrets import read_auth_string

    value = read_auth_string(home)
    assert value
    return value


def test_the_api_refuses_callers_without_the_secret_and_other_origins(platform):
    _, home, port = platform
    api = f"http://127.0.0.1:{port}/api"
    right = secret_of(home)
    # health is open (a load balancer's probe); everything else is not
    assert httpx.get(f"{api}/health").status_code == 200
    for headers in ({}, basic("jaffle:wrong"), basic(right + "x"), {"Authorization": "Bearer " + right}):
        assert httpx.get(f"{api}/deployments/name/{PARENT}", headers=headers).status_code == 401, headers
        assert httpx.get(f"{api}/csrf-token", params={"client": "x"}, headers=headers).status_code == 401
        # a write is refused too (its missing CSRF token is checked first: 403)
        assert httpx.post(f"{api}/flows/filter", json={}, headers=headers).status_code in (401, 403)
    # with the secret, a state-changing call still needs its CSRF token
    no_token = httpx.post(f"{api}/flows/filter", json={}, headers=basic(right))
    assert no_token.status_code == 403 and "CSRF" in no_token.text, no_token.text
    token = httpx.get(f"{api}/csrf-token", params={"client": "security-test"}, headers=basic(right)).json()
    csrf = {"Prefect-Csrf-Token": token["token"], "Prefect-Csrf-Client": "security-test"}
    assert httpx.post(f"{api}/flows/filter", json={}, headers={**basic(right), **csrf}).status_code == 200
    # browsers may call it only from the UI's own origin
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    evil = httpx.options(f"{api}/flows/filter", headers={"Origin": "http://evil.example", **preflight})
    assert evil.headers.get("access-control-allow-origin") is None and evil.status_code == 400
    own = httpx.options(f"{api}/flows/filter", headers={"Origin": f"http://127.0.0.1:{port}", **preflight})
    assert own.status_code == 200 and own.headers["access-control-allow-origin"] == f"http://127.0.0.1:{port}"


def test_the_secret_is_kept_for_its_owner_only(platform):
    cli, home, _ = platform
    from jaffle_ops.secrets import auth_file

    path = auth_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    shown = cli("secret")
    assert shown.returncode == 0 and shown.stdout.strip() == secret_of(home)
    # a secret others could read is refused by name, not used
    path.chmod(0o644)
    try:
        out = cli("status")
        assert out.returncode == 2 and "is readable by others" in out.stderr and "rotate-secret" in out.stderr
    finally:
        path.chmod(0o600)


@pytest.mark.browser
def test_the_ui_asks_for_the_secret_and_works_once_it_is_given(platform, chromium_page, ui_login):
    _, home, port = platform
    ui = f"http://127.0.0.1:{port}"
    page = chromium_page
    page.goto(f"{ui}/deployments")
    page.wait_for_url(lambda url: "/login" in url)
    page.get_by_placeholder("admin:pass").fill("jaffle:not-the-secret")
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Authentication failed.").first.wait_for()
    assert "/login" in page.url
    ui_login(page, ui, secret_of(home))
    page.goto(f"{ui}/deployments")
    page.get_by_role("link", name="raw-data-jaffle-shop", exact=True).first.wait_for()


def test_the_callers_secrets_reach_no_process_no_flow_run_and_no_log(platform, platform_client):
    from jaffle_contract.runtime import artifact_key
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    _, home, port = platform
    with platform_client(home, port) as client:
        deployment = client.read_deployment_by_name("raw-data-marketing/raw-data-marketing")
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"start_date": "2024-02-01", "end_date": "2024-02-01"}
        )
        deadline = time.monotonic() + 600  # a deadline for a stuck run, not a performance check
        while not (run := client.read_flow_run(run.id)).state.is_final() and time.monotonic() < deadline:
            time.sleep(1)
        assert run.state.is_completed(), (run.state.name, run.state.message)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
        data = next(a.data for a in artifacts if a.key == artifact_key("ingestion"))
        environment = set(((json.loads(data) if isinstance(data, str) else data)[0])["environment"].split())
        # A run's logs reach the API in batches and may land just after its final state: wait for them
        # (a bound for a lost batch, not a performance check).
        own = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
        deadline = time.monotonic() + 60
        while not (logs := client.read_logs(log_filter=own)) and time.monotonic() < deadline:
            time.sleep(1)
        # the one credential a flow needs (the warehouse's) reached the server as a Secret block instead
        block = client.read_block_document_by_name(WAREHOUSE_PASSWORD_BLOCK, "secret", include_secrets=True)
        assert block.data["value"] == CALLER["JAFFLE_PG_PASSWORD"]
    # the flow run had the platform's settings and none of the caller's secrets
    assert {"PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "JAFFLE_DATA_DIR", "PATH"} <= environment
    assert not set(CALLER) & environment, set(CALLER) & environment
    # nor did any process `up` started (server, workers)
    pids = [p for p in (json.loads(f.read_text())["pid"] for f in (home / "pids").glob("*.json"))]
    assert len(pids) >= 6
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        for name, value in CALLER.items():
            assert value.encode() not in environ, (pid, name)
    # and no log holds a caller's secret or the API's
    values = [*CALLER.values(), secret_of(home).split(":", 1)[1]]
    assert logs and not [line for line in logs for value in values if value in line.message]
    files = [path for path in home.rglob("*.log")] + list((home / "logs").glob("*"))
    assert files
    for path in files:
        text = path.read_bytes()
        for value in values:
            assert value.encode() not in text, path


def test_a_rotated_secret_locks_the_old_one_out_and_the_platform_runs_on_the_new(platform, platform_client):
    cli, home, port = platform
    api = f"http://127.0.0.1:{port}/api"
    old = secret_of(home)
    rotated = cli("rotate-secret")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    new = secret_of(home)
    assert new != old
    assert httpx.get(f"{api}/deployments/name/{PARENT}", headers=basic(old)).status_code == 401
    assert httpx.get(f"{api}/deployments/name/{PARENT}", headers=basic(new)).status_code == 200
    run = cli("run", "--start", "2024-02-02", "--end", "2024-02-02")
    assert run.returncode == 0, run.stdout + run.stderr  # every worker came back with the new secret
    assert os.stat(home / "secrets" / "api-auth").st_mode & 0o077 == 0
