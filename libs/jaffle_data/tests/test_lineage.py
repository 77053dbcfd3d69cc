"""jaffle_data.lineage: the events a write of declared datasets sends, as Prefect's own asset events.

The events are caught where they leave the library (`prefect.events.emit_event`); what is sent, and
when, is the library's own."""

from __future__ import annotations

import prefect.events
import pytest
from jaffle_contract import contracts
from jaffle_data import lineage

MARTS = contracts.parse(
    "marts",
    """
[[produces]]
name = "shop.daily"
location = "warehouse/shop.duckdb#main.daily"
format = "duckdb"
description = "Revenue by day"
upstream = ["raw.orders", "raw.items"]
freshness_hours = 36

[[produces]]
name = "shop.weekly"
location = "warehouse/shop.duckdb#main.weekly"
format = "duckdb"
upstream = ["raw.orders"]
freshness_hours = 200

[[consumes]]
name = "raw.orders"

[[consumes]]
name = "raw.items"
""",
)


@pytest.fixture
def sent(monkeypatch):
    events: list[dict] = []
    monkeypatch.setattr(
        prefect.events, "emit_event", lambda event, **fields: events.append({"event": event, **fields})
    )
    return events


def test_a_key_names_its_dataset_and_only_the_platforms_keys_do():
    assert lineage.dataset_of(lineage.asset_key("shop.daily")) == "shop.daily"
    assert lineage.dataset_of("s3://bucket/shop.daily") is None


def test_a_write_that_ends_well_references_each_upstream_once_and_materializes_each_dataset(sent):
    with lineage.materializing(MARTS, ["shop.daily", "shop.weekly"], window="2024-03-01..2024-03-07"):
        pass
    referenced = [e["resource"]["prefect.resource.id"] for e in sent if e["event"] == lineage.REFERENCED]
    assert referenced == ["jaffle://raw.items", "jaffle://raw.orders"]  # sorted, each once
    made = [e for e in sent if e["event"].startswith(lineage.MATERIALIZED)]
    assert [e["event"] for e in made] == [f"{lineage.MATERIALIZED}succeeded"] * 2
    daily = made[0]
    assert daily["resource"]["prefect.resource.id"] == "jaffle://shop.daily"
    assert sorted(r["prefect.resource.id"] for r in daily["related"]) == [
        "jaffle://raw.items",
        "jaffle://raw.orders",
    ]
    assert daily["payload"] == {
        "dataset": "shop.daily",
        "owner": "marts",
        "location": "warehouse/shop.duckdb#main.daily",
        "format": "duckdb",
        "freshness_hours": 36,
        "upstream": ["raw.orders", "raw.items"],
        "window": "2024-03-01..2024-03-07",
    }


def test_a_write_that_raises_is_a_failed_materialization_and_the_error_goes_on(sent):
    with pytest.raises(RuntimeError, match="disk full"), lineage.materializing(MARTS, ["shop.weekly"]):
        raise RuntimeError("disk full")
    [failed] = [e for e in sent if e["event"].startswith(lineage.MATERIALIZED)]
    assert failed["event"] == f"{lineage.MATERIALIZED}failed"
    assert failed["payload"]["error"] == "disk full"


def test_an_undeclared_dataset_fails_before_anything_is_written_or_sent(sent):
    wrote = []
    undeclared = r"marts declares no produced dataset 'shop\.monthly'"
    with (
        pytest.raises(KeyError, match=undeclared),
        lineage.materializing(MARTS, ["shop.daily", "shop.monthly"]),
    ):
        wrote.append("rows")
    assert wrote == [] and sent == []
