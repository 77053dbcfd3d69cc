"""jaffle_contract.deployments."""

from __future__ import annotations

from jaffle_contract import deployments


def test_every_deployment_name_is_written_once():
    names = [v for k, v in vars(deployments).items() if k.isupper() and isinstance(v, str)]
    assert len(names) == len(set(names))
    assert deployments.qualified(deployments.SALES_FORECAST) == "sales-forecast/sales-forecast"
