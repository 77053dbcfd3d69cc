"""What the benches share: a free loopback port, waiting for a server, stopping a process, reading every
flow run a filter matches."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(api: str, timeout: float = 120) -> None:
    """Until the Prefect API at `api` answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"the Prefect server at {api} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen, grace: float = 60) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    process.kill()
    process.wait()


PAGE = 200  # the API's largest page of flow runs


def all_flow_runs(api, flow_run_filter) -> list:
    """Every flow run the filter matches: the API answers a page at a time (a year's backfill has over
    300 runs, and one unpaged read silently kept the first 200)."""
    found: list = []
    while True:
        page = api.read_flow_runs(flow_run_filter=flow_run_filter, limit=PAGE, offset=len(found))
        found += page
        if len(page) < PAGE:
            return found
