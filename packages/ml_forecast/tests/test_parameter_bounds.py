"""The deployment's bounds hold before a run exists: the server refuses an out-of-range parameter that
Prefect's stock CLI sends, from the parameter schema the flow's signature makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jaffle_ml_forecast.flows import HORIZON, sales_forecast
from prefect.testing.utilities import prefect_test_harness
from prefect.utilities.callables import parameter_schema

SPEC = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())
(DEPLOYMENT,) = (d for d in SPEC["deployments"] if d["entrypoint"].endswith(f":{sales_forecast.fn.__name__}"))


@pytest.fixture(scope="module")
def server():
    """A real server holding the deployment as `prefect deploy` makes it: the flow's schema, enforced."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120), get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(sales_forecast.name)
        client.create_deployment(
            flow_id,
            DEPLOYMENT["name"],
            entrypoint=DEPLOYMENT["entrypoint"],
            parameters=DEPLOYMENT.get("parameters") or {},
            parameter_openapi_schema=parameter_schema(sales_forecast).model_dump_for_openapi(),
            enforce_parameter_schema=True,
        )
        yield client, PREFECT_API_URL.value()


def _run(api_url: str, *parameters: str) -> subprocess.CompletedProcess[str]:
    """`prefect deployment run` from this environment, against that server only."""
    name = f"{sales_forecast.name}/{DEPLOYMENT['name']}"
    args = [arg for parameter in parameters for arg in ("-p", parameter)]
    return subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "deployment", "run", name, *args],
        env={**os.environ, "PREFECT_API_URL": api_url},
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard
    )


def test_the_stock_cli_refuses_a_negative_horizon_naming_the_bound_and_no_run_is_created(server):
    client, api_url = server
    before = len(client.read_flow_runs())
    refused = _run(api_url, "horizon_days=-3")
    said = " ".join((refused.stdout + refused.stderr).split())  # as one line, however the terminal wraps
    assert refused.returncode != 0, said
    reason = f"-3 is less than the minimum of {HORIZON.ge}"
    assert f"Validation failed for field 'horizon_days'. Failure reason: {reason}" in said
    assert len(client.read_flow_runs()) == before


def test_the_same_cli_call_in_range_creates_the_run(server):
    """The refusal above is the bound's, not the call's: the same command with a horizon in range runs."""
    client, api_url = server
    before = {run.id for run in client.read_flow_runs()}
    accepted = _run(api_url, "horizon_days=3")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    (run,) = [run for run in client.read_flow_runs() if run.id not in before]
    assert run.parameters["horizon_days"] == 3
